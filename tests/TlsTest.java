import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import activation.WakeSocket;
import cli.Cli;
import java.io.ByteArrayInputStream;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import nsq.Connection;
import nsq.HostPort;
import nsq.NsqConfig;
import nsq.NsqException;
import nsq.Tls;
import nsq.http.NsqHttp;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * TLS to an nsqd started with --tls-cert/--tls-key --tls-required=true (its plain HTTP port then
 * refuses too): producer, consumer and wakeup in-process connect, deliver byte for byte, and fail
 * with one clear error (exit 1, never retried) with a CA that did not sign nsqd's certificate or without TLS.
 */
class TlsTest {
    static final TestCerts CERTS = TestCerts.shared();
    static final NsqConfig TLS = NsqConfig.defaults().withTls(Tls.load(CERTS.ca, null, null, false));
    static final Duration WAIT = Duration.ofSeconds(30);

    @RegisterExtension final NsqFixture nsq = new NsqFixture().client(TLS)
        .flags("--tls-cert=" + CERTS.serverCert, "--tls-key=" + CERTS.serverKey, "--tls-required=true");

    static String[] with(String[] first, String... more) {
        List<String> all = new ArrayList<>(List.of(first));
        all.addAll(List.of(more));
        return all.toArray(String[]::new);
    }

    String[] producerArgs(String stream, String... more) { return with(new String[] {"-s", stream, "--nsqd",
        nsq.tcp().toString()}, more); }

    String[] consumerArgs(String stream, String group, String... more) {
        return with(new String[] {"-s", stream, "-g", group, "--nsqd", nsq.tcp().toString()}, more);
    }

    static String ca(Path file) { return "--tls-ca=" + file; }

    @Test void producerConsumerAndWakeupDeliverByteExactOverTls() throws Exception {
        nsq.prepare("tls", "g", "sa");
        List<byte[]> bodies = ExactBodies.lines();
        producer p = new producer();
        p.stdin = new ByteArrayInputStream(ExactBodies.stdin(bodies));
        assertEquals(0, Cli.run(p, producerArgs("tls", ca(CERTS.ca), "-")), "producer: " + p.failure());

        ConsumerRun c = new ConsumerRun(consumerArgs("tls", "g", ca(CERTS.ca), "--format", "json", "--count", "3"));
        assertEquals(0, c.await(WAIT), "consumer: " + c.fatal());
        ExactBodies.assertSame(bodies, ExactBodies.fromJson(c.lines()));

        // wakeup: its stats over HTTPS (the plain address given; nsqd names its HTTPS port), its push over TLS.
        try (WakeupRun run = new WakeupRun()) {
            WakeSocket.Listener sa = run.listen("sa");
            wakeup w = run.start("--nsqd-http", nsq.httpAddress().toString(), ca(CERTS.ca), "--scan-interval", "10m",
                "--debounce", "0s");
            WakeupRun.assertScanThenPushWake(nsq, "tls", sa, w, WAIT);
        }
    }

    @Test void aCaThatDidNotSignNsqdIsOneClearFailureEverywhere() throws Exception {
        nsq.prepare("wrong-ca", "g", "sa");
        nsq.publish("wrong-ca", 1);
        producer p = new producer();
        assertEquals(1, Cli.run(p, producerArgs("wrong-ca", ca(CERTS.otherCa), "--count", "1")));
        assertTrue(p.failure().contains("TLS with nsqd " + nsq.tcp()
            + " failed: its certificate is not signed by a CA we trust"), p.failure());

        ConsumerRun c = new ConsumerRun(consumerArgs("wrong-ca", "g", ca(CERTS.otherCa)));
        assertEquals(1, c.await(WAIT));
        assertTrue(c.ran().toMillis() < 5_000, "fatal at once, not retried for --connect-timeout: " + c.ran().toMillis()
            + " ms");
        assertTrue(c.fatal().getMessage().contains("not signed by a CA we trust"), c.fatal().getMessage());
        assertEquals(1, nsq.channel("wrong-ca", "g").depth(), "nothing taken");

        try (WakeupRun run = new WakeupRun()) {
            run.listen("sa");
            wakeup w = new wakeup();
            assertEquals(1, run.runToExit(w, WAIT, "--nsqd-http", nsq.httpAddress().toString(), ca(CERTS.otherCa)));
            assertTrue(w.failure().getMessage().contains("not signed by a CA we trust"), w.failure().getMessage());
        }
    }

    @Test void withoutTlsEveryToolIsToldNsqdRequiresIt() throws Exception {
        producer p = new producer();
        assertEquals(1, Cli.run(p, producerArgs("plain", "--count", "1")));
        assertTrue(p.failure()
            .contains("E_INVALID cannot PUB in current state (TLS required): it accepts only TLS connections"),
            p.failure());

        ConsumerRun c = new ConsumerRun(consumerArgs("plain", "g"));
        assertEquals(1, c.await(WAIT));
        assertTrue(c.fatal().getMessage().contains("(TLS required)"), c.fatal().getMessage());

        try (WakeupRun run = new WakeupRun()) {
            wakeup w = new wakeup();
            assertEquals(1, run.runToExit(w, WAIT, "--nsqd-http", nsq.httpAddress().toString()));
            assertTrue(w.failure().getMessage().contains("requires TLS on its HTTP API too"), w.failure().getMessage());
        }
    }

    /**
     * producer --groups with TLS options: its HTTP calls (/info, topic and channel create) follow nsqd to HTTPS too.
     */
    @Test void producerGroupsGoOverHttpsWhenNsqdRequiresTls() throws Exception {
        producer p = new producer();
        assertEquals(0, Cli.run(p, producerArgs("grouped", ca(CERTS.ca), "--nsqd-http", nsq.httpAddress().toString(),
            "--groups", "a,b",
            "--count", "3", "--rate", "max")), "producer: " + p.failure());
        for (String g : List.of("a", "b")) assertEquals(3, nsq.channel("grouped", g).depth(), "group " + g
            + " made first, holds all 3");
    }

    @Test void insecureSkipsTheCertificateCheck() throws Exception {
        nsq.prepare("insecure", "g");
        producer p = new producer();
        assertEquals(0, Cli.run(p, producerArgs("insecure", "--tls-insecure", "--count", "2", "--interval", "1ms")),
            "producer: " + p.failure());
        ConsumerRun c = new ConsumerRun(consumerArgs("insecure", "g", "--tls-insecure", "--count", "2"));
        assertEquals(0, c.await(WAIT));
        assertEquals(2, c.lines().size());
    }

    /**
     * The client itself: TLS is granted and upgraded in place; a plain client to nsqd's HTTPS port, or HTTPS without
     * TLS settings, is told where to go.
     */
    @Test void httpFollowsNsqdToItsHttpsPort() throws Exception {
        try (Connection conn = Connection.open(nsq.tcp(), TLS)) {
            assertTrue(conn.negotiated().flag("tls_v1"));
        }
        NsqHttp follows = new NsqHttp(nsq.httpAddress(), Duration.ofSeconds(5), TLS.tls());
        follows.ping();
        assertTrue(follows.endpoint().startsWith("https://127.0.0.1:"), follows.endpoint());
        HostPort https = HostPort.parse(follows.endpoint().substring("https://".length()));
        assertNotEquals(nsq.httpAddress().port(), https.port());

        NsqHttp direct = new NsqHttp(https, Duration.ofSeconds(5), TLS.tls());
        direct.ping(); // plain HTTP to a TLS port is answered 400 by Go; the client switches to HTTPS there
        assertEquals("https://" + https, direct.endpoint());

        var plain = assertThrows(NsqException.class, () -> new NsqHttp(nsq.httpAddress()).ping());
        assertTrue(plain.fatal() && plain.getMessage().contains("its HTTPS address is " + https), plain.getMessage());
        var plainToHttps = assertThrows(NsqException.class, () -> new NsqHttp(https).ping());
        assertTrue(plainToHttps.getMessage().contains("is an HTTPS port"), plainToHttps.getMessage());
    }
}
