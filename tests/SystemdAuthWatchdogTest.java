import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.URLDecoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import nsq.NsqConfig;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import util.Json;

/**
 * One host under systemd as PID 1 against an nsqd that requires AUTH (--auth-http-address, answered by
 * a small auth server in this test): the secret an admin puts in /etc/mqueue/nsq-auth-secret reaches the
 * consumer and the wakeup as a credential, never through the environment. Then, on the same host, the
 * wakeup hung by SIGSTOP: systemd's watchdog restarts it, and it wakes the work that came meanwhile.
 */
@Tag("systemd")
@ExtendWith(SystemdTier.Available.class)
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
@Timeout(300)
class SystemdAuthWatchdogTest {
    static final Duration WAIT = Duration.ofSeconds(120);
    static final String SECRET = "s3cret-for-the-units", G = "authed", IDENTITY = "units-on-host";
    static final String WAKEUP = "mqueue-wakeup.service";

    Path dir;
    HttpServer auth;
    final List<String> asked = new CopyOnWriteArrayList<>(); // the secrets nsqd asked the auth server about
    NsqFixture.ProcessDaemon nsqd;
    Nspawn host;

    @BeforeAll
    @Timeout(600)
    void boot() throws Exception {
        Packaged.ensure();
        dir = Files.createTempDirectory("mqueue-systemd-auth-");
        auth = authServer();
        nsqd = SystemdTier.nsqd(dir, "nsqd", "--auth-http-address=127.0.0.1:" + auth.getAddress().getPort());
        nsqd.client = NsqConfig.defaults().withAuthSecret(SECRET); // this test's own publishing
        host = Nspawn.create(dir, "auth");
        host.write("etc/mqueue/" + G + ".env", SystemdTier.groupEnv(nsqd, G, Map.of("TIMEOUT", "2")));
        // As the units' comment has the admin do it: root's file, mode 0600, the secret on one line.
        host.write("etc/mqueue/nsq-auth-secret", SECRET + "\n");
        Files.setPosixFilePermissions(host.file("etc/mqueue/nsq-auth-secret"),
            PosixFilePermissions.fromString("rw-------"));
        host.install(Map.of("NSQD_TCP_ADDRESS", nsqd.tcp().toString(), "NSQD_HTTP_ADDRESS",
            nsqd.httpAddress().toString()));
        host.boot();
        host.systemctl("enable", "--now", WAKEUP, "mqueue-consumer-nsq@" + G + ".socket");
    }

    /** nsqd's auth protocol: SECRET may publish and subscribe anything, as IDENTITY; anything else is refused. */
    HttpServer authServer() throws IOException {
        HttpServer s = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 10);
        s.createContext("/auth", exchange -> {
            String secret = "";
            for (String kv : exchange.getRequestURI().getRawQuery().split("&")) {
                if (kv.startsWith("secret=")) secret = URLDecoder.decode(kv.substring(7), StandardCharsets.UTF_8);
            }
            asked.add(secret);
            boolean ok = secret.equals(SECRET);
            byte[] body = (ok ? "{\"ttl\":3600,\"identity\":\"" + IDENTITY
                + "\",\"authorizations\":[{\"topic\":\".*\",\"channels\":[\".*\"],\"permissions\":[\"subscribe\","
                + "\"publish\"]}]}" : "{\"message\":\"unknown secret\"}").getBytes(StandardCharsets.UTF_8);
            exchange.sendResponseHeaders(ok ? 200 : 403, body.length);
            try (OutputStream out = exchange.getResponseBody()) {
                out.write(body);
            }
        });
        s.start();
        return s;
    }

    @AfterAll
    void shutDown() throws Exception {
        if (host != null) host.close();
        if (nsqd != null) nsqd.stop();
        if (auth != null) auth.stop(0);
        if (dir != null) Nspawn.deleteTree(dir);
    }

    String service() { return "mqueue-consumer-nsq@" + G + ".service"; }

    List<String> handled(String prefix) throws Exception {
        return List.copyOf(SystemdTier.bodies(host.lines("mqueue-consumer@" + G), prefix));
    }

    /** The clients nsqd has on {@code channel} of stream G, from /stats with clients (authed, auth_identity). */
    List<JsonNode> clients(String channel) throws Exception {
        String json = HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create("http://" + nsqd.httpAddress()
            + "/stats?format=json&include_clients=true&topic=" + G)).build(),
            HttpResponse.BodyHandlers.ofString()).body();
        for (JsonNode t : Json.MAPPER.readTree(json).path("topics")) {
            for (JsonNode c : t.path("channels")) {
                if (c.path("channel_name").asText().equals(channel)) return List.copyOf(iterable(c.path("clients")));
            }
        }
        return List.of();
    }

    static List<JsonNode> iterable(JsonNode array) {
        List<JsonNode> out = new java.util.ArrayList<>();
        array.forEach(out::add);
        return out;
    }

    static boolean authed(List<JsonNode> clients) {
        return !clients.isEmpty() && clients.stream().allMatch(c -> c.path("authed").asBoolean()
            && IDENTITY.equals(c.path("auth_identity").asText()));
    }

    @Test @Order(1)
    void theSecretReachesTheConsumerAndTheWakeupAsACredential() throws Exception {
        // nsqd answers SUB with E_AUTH_FIRST until AUTH: following the stream is the wakeup's proof.
        host.await("the wakeup follows " + G + ", authenticated as " + IDENTITY, WAIT,
            () -> authed(clients(wake.PushFollower.ownChannel(host.name))), WAKEUP);
        nsqd.publish(G, NsqFixture.bodies("a-", 3));
        host.await("the consumer, authenticated, handled the 3", WAIT, () -> handled("a-").size() == 3, service(),
            WAKEUP);
        assertTrue(host.lines("mqueue-consumer@" + G).stream().noneMatch(l -> l.startsWith("error: ")), host.journal(30,
            service()));
        assertFalse(asked.isEmpty(), "nsqd asked the auth server");
        assertEquals(List.of(SECRET), asked.stream().distinct().toList(),
            "no other secret (an empty one) was ever offered");
        for (String unit : List.of(WAKEUP, service())) {
            String env = host.systemctl("show", "--property=Environment", unit);
            assertFalse(env.contains(SECRET), unit + ": the secret is not in its environment: " + env);
            assertTrue(env.contains("NSQ_AUTH_SECRET_FILE=/run/credentials/" + unit + "/nsq-auth-secret"), unit + ": "
                + env);
        }
    }

    @Test @Order(2)
    void aHungWakeupIsRestartedByTheWatchdogAndWakesWhatCameMeanwhile() throws Exception {
        host.await("the consumer is idle (exited)", WAIT, () -> host.state(service()).equals("inactive dead"),
            service());
        long startsBefore = SystemdTier.starts(host, WAKEUP);
        String pid = host.systemctl("show", "--property=MainPID", "--value", WAKEUP).strip();
        host.systemctl("kill", "--kill-whom=main", "--signal=SIGSTOP", WAKEUP);
        nsqd.publish(G, NsqFixture.bodies("late-", 3));
        // WatchdogSec=30s: systemd aborts the silent wakeup, restarts it 2 s later, and its first scan wakes the group.
        host.await("the watchdog restarted the wakeup", WAIT,
            () -> host.journalctl("--unit=" + WAKEUP, "--output=cat").contains("Watchdog timeout")
                && SystemdTier.starts(host, WAKEUP) > startsBefore
                && host.state(WAKEUP).equals("active running"), WAKEUP);
        assertFalse(pid.equals(host.systemctl("show", "--property=MainPID", "--value", WAKEUP).strip()),
            "a new wakeup process");
        host.await("the work that came while it hung is handled", WAIT, () -> handled("late-").size() == 3, service(),
            WAKEUP);
        host.assertListening("mqueue-consumer-nsq@" + G + ".socket", service());
    }
}
