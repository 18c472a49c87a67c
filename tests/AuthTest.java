import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import activation.WakeSocket;
import cli.Cli;
import com.sun.net.httpserver.HttpServer;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import nsq.Connection;
import nsq.NsqConfig;
import nsq.NsqLogger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * AUTH against nsqd started with --auth-http-address, pointing at a tiny auth server in this test
 * (the JDK's HttpServer, speaking nsqd's auth protocol). Secrets: "good" may publish and subscribe
 * as alice, "readonly" may only subscribe, "nothing" gets no authorizations, anything else is
 * refused (403). nsqd's HTTP API asks for no secret at all (v1.3.0 checks AUTH on TCP only).
 */
class AuthTest {
    static final HttpServer AUTH = authServer();
    static final List<String> ASKED = new CopyOnWriteArrayList<>(); // the secrets nsqd asked about
    static final Duration WAIT = Duration.ofSeconds(30);

    @RegisterExtension final NsqFixture nsq = new NsqFixture().client(NsqConfig.defaults().withAuthSecret("good"))
        .flags("--auth-http-address=127.0.0.1:" + AUTH.getAddress().getPort());
    @TempDir Path tmp;

    static HttpServer authServer() {
        try {
            HttpServer s = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 10);
            s.createContext("/auth", exchange -> {
                String secret = "";
                for (String kv : exchange.getRequestURI().getRawQuery().split("&")) {
                    if (kv.startsWith("secret=")) secret = URLDecoder.decode(kv.substring(7), StandardCharsets.UTF_8);
                }
                ASKED.add(secret);
                String everything =
                    "{\"topic\":\".*\",\"channels\":[\".*\"],\"permissions\":[\"subscribe\",\"publish\"]}";
                String subscribe = "{\"topic\":\".*\",\"channels\":[\".*\"],\"permissions\":[\"subscribe\"]}";
                String body = switch (secret) {
                    case "good" -> "{\"ttl\":3600,\"identity\":\"alice\","
                        + "\"identity_url\":\"https://auth.example/alice\",\"authorizations\":[" + everything + "]}";
                    case "readonly" -> "{\"ttl\":3600,\"identity\":\"reader\",\"authorizations\":[" + subscribe + "]}";
                    case "nothing" -> "{\"ttl\":3600,\"identity\":\"nobody\",\"authorizations\":[]}";
                    default -> null;
                };
                byte[] bytes = (body != null ? body
                    : "{\"message\":\"unknown secret\"}").getBytes(StandardCharsets.UTF_8);
                exchange.sendResponseHeaders(body != null ? 200 : 403, bytes.length);
                try (OutputStream out = exchange.getResponseBody()) {
                    out.write(bytes);
                }
            });
            s.start();
            return s;
        } catch (IOException e) {
            throw new IllegalStateException("cannot start the auth server", e);
        }
    }

    @AfterAll static void stopAuthServer() { AUTH.stop(0); }

    String[] args(String... more) { return TlsTest.with(new String[] {"--nsqd", nsq.tcp().toString()}, more); }

    Path secretFile(String secret) throws IOException {
        Path f = tmp.resolve("secret-" + secret);
        Files.writeString(f, secret + "\n");
        Files.setPosixFilePermissions(f, PosixFilePermissions.fromString("rw-------"));
        return f;
    }

    @Test void theClientLogsWhoNsqdSaysWeAre() throws Exception {
        List<String> lines = new CopyOnWriteArrayList<>();
        NsqLogger capture = (level, message) -> lines.add(level + " " + message);
        try (Connection c = Connection.open(nsq.tcp(),
                NsqConfig.defaults().withAuthSecret("good").withLogger(capture))) {
            assertTrue(c.negotiated().authRequired());
        }
        assertEquals(List.of("INFO nsqd " + nsq.tcp()
            + ": AUTH accepted as 'alice' (https://auth.example/alice) with 1 permission(s)"), lines);
        assertTrue(ASKED.contains("good"));
    }

    @Test void aGoodSecretPublishesConsumesAndWakes() throws Exception {
        nsq.prepare("authed", "g", "sa");
        List<byte[]> bodies = ExactBodies.lines();
        producer p = new producer();
        p.stdin = new ByteArrayInputStream(ExactBodies.stdin(bodies));
        assertEquals(0, Cli.run(p, args("-s", "authed", "--auth-secret-file", secretFile("good").toString(), "-")),
            "producer: " + p.failure());

        ConsumerRun c = new ConsumerRun(args("-s", "authed", "-g", "g", "--auth-secret", "good", "--format", "json",
            "--count", "3"));
        assertEquals(0, c.await(WAIT), "consumer: " + c.fatal());
        ExactBodies.assertSame(bodies, ExactBodies.fromJson(c.lines()));

        try (WakeupRun run = new WakeupRun()) {
            WakeSocket.Listener sa = run.listen("sa");
            wakeup w = run.start("--nsqd-http", nsq.httpAddress().toString(), "--auth-secret", "good",
                "--scan-interval", "10m", "--debounce", "0s");
            WakeupRun.assertScanThenPushWake(nsq, "authed", sa, w, WAIT);
        }
    }

    /** Each of producer, consumer and wakeup exits 1 once with nsqd's words; nothing is taken from the channel. */
    void assertRefusedEverywhere(String stream, String[] secretArgs, String producerSays,
            String consumerSays) throws Exception {
        nsq.prepare(stream, "g", "sa");
        nsq.publish(stream, 1);
        producer p = new producer();
        assertEquals(1, Cli.run(p, TlsTest.with(args("-s", stream, "--count", "1"), secretArgs)));
        assertTrue(p.failure().contains("nsqd " + nsq.tcp()) && p.failure().contains(producerSays), p.failure());

        ConsumerRun c = new ConsumerRun(TlsTest.with(args("-s", stream, "-g", "g"), secretArgs));
        assertEquals(1, c.await(WAIT));
        assertTrue(c.ran().toMillis() < 5_000, "fatal at once, not retried for --connect-timeout: " + c.ran().toMillis()
            + " ms");
        assertTrue(c.fatal().getMessage().contains(consumerSays), c.fatal().getMessage());
        assertEquals(1, nsq.channel(stream, "g").depth(), "nothing taken");

        try (WakeupRun run = new WakeupRun()) {
            run.listen("sa"); // a socket-backed group with a backlog: push connects, and AUTH decides
            wakeup w = new wakeup();
            assertEquals(1, run.runToExit(w, WAIT, TlsTest.with(new String[] {"--nsqd-http",
                nsq.httpAddress().toString()}, secretArgs)));
            assertTrue(w.failure().getMessage().contains(consumerSays), w.failure().getMessage());
        }
    }

    @Test void aWrongSecretIsRefusedOnceAndClearly() throws Exception {
        assertRefusedEverywhere("wrong", new String[] {"--auth-secret", "guess"}, "E_AUTH_FAILED AUTH failed",
            "E_AUTH_FAILED AUTH failed");
    }

    @Test void aSecretWithoutAuthorizationsIsRefused() throws Exception {
        assertRefusedEverywhere("nothing", new String[] {"--auth-secret", "nothing"},
            "E_UNAUTHORIZED AUTH no authorizations found",
            "E_UNAUTHORIZED AUTH no authorizations found");
    }

    @Test void noSecretSaysNsqdRequiresOne() throws Exception {
        Path empty = tmp.resolve("empty");
        // the units' credential default when /etc/mqueue/nsq-auth-secret is missing: no secret
        Files.writeString(empty, "\n");
        assertRefusedEverywhere("nosecret", new String[] {"--auth-secret-file", empty.toString()},
            "requires AUTH (it runs with --auth-http-address) and no secret was given", "requires AUTH");
    }

    @Test void aSecretThatMaySubscribeOnlyCannotPublish() throws Exception {
        nsq.prepare("readonly", "g");
        nsq.publish("readonly", 2);
        producer p = new producer();
        assertEquals(1, Cli.run(p, args("-s", "readonly", "--auth-secret", "readonly", "--count", "1")));
        assertTrue(p.failure().contains("E_UNAUTHORIZED AUTH failed for PUB on \"readonly\" \"\""), p.failure());
        ConsumerRun c = new ConsumerRun(args("-s", "readonly", "-g", "g", "--auth-secret", "readonly", "--count", "2"));
        assertEquals(0, c.await(WAIT), "subscribing is allowed: " + c.fatal());
        assertEquals(2, c.lines().size());
    }

    /**
     * systemd/: the secret reaches every service as a credential (a missing file is the empty default), never through
     * an env file.
     */
    @Test void unitsHandTheSecretOverAsACredential() throws Exception {
        Path systemd = NsqBinaries.repoRoot().resolve("systemd");
        try (var files = Files.walk(systemd)) { // the drop-ins too
            for (Path f : files.filter(Files::isRegularFile).toList()) {
                String text = Files.readString(f);
                if (f.toString().endsWith(".service")) {
                    for (String line : List.of("LoadCredential=nsq-auth-secret:/etc/mqueue/nsq-auth-secret",
                        "SetCredential=nsq-auth-secret:\\n",
                            "Environment=NSQ_AUTH_SECRET_FILE=%d/nsq-auth-secret")) {
                        assertTrue(text.contains("\n" + line + "\n"), f.getFileName() + " has " + line);
                    }
                }
                assertTrue(!text.matches("(?s).*\\n\\s*#?\\s*NSQ_AUTH_SECRET=.*") && !text.contains("--auth-secret "),
                    f.getFileName() + ": no secret in a unit's or env file's text");
            }
        }
    }

    @Test void badSecretOptionsAreUsageErrors() throws Exception {
        InProcess both = InProcess.run(new producer(), args("-s", "x", "--auth-secret", "a", "--auth-secret-file",
            secretFile("b").toString()));
        assertEquals(Cli.USAGE, both.code());
        assertTrue(both.firstErr().contains("--auth-secret with --auth-secret-file: give one of them"), both.err());
        InProcess missing = InProcess.run(new consumer(), args("-s", "x", "-g", "g", "--auth-secret-file",
            tmp.resolve("none").toString()));
        assertEquals(Cli.USAGE, missing.code());
        assertTrue(missing.firstErr().contains("--auth-secret-file '" + tmp.resolve("none") + "': no such file"),
            missing.err());
        Path twoLines = tmp.resolve("two");
        Files.writeString(twoLines, "a\nb\n");
        InProcess two = InProcess.run(new producer(), args("-s", "x", "--auth-secret-file", twoLines.toString()));
        assertEquals(Cli.USAGE, two.code());
        assertTrue(two.firstErr().contains("the secret must be one line"), two.err());
        assertTrue(!ASKED.contains("a") && !ASKED.contains("b"), "no usage error got as far as nsqd: " + ASKED);
    }
}
