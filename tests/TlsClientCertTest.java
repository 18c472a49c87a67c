import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import activation.WakeSocket;
import cli.Cli;
import java.io.ByteArrayInputStream;
import java.time.Duration;
import java.util.List;
import nsq.NsqConfig;
import nsq.Tls;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * nsqd with --tls-client-auth-policy=require-verify (and its CA as --tls-root-ca-file): clients
 * present a certificate it trusts, on TCP and on HTTPS. Keys in PKCS#8 (EC) and PKCS#1 (RSA) both
 * work; no certificate, or one from a CA nsqd does not trust, is one clear failure.
 */
class TlsClientCertTest {
    static final TestCerts CERTS = TestCerts.shared();
    static final NsqConfig CLIENT = NsqConfig.defaults().withTls(Tls.load(CERTS.ca, CERTS.clientCert, CERTS.clientKey,
        false));
    static final Duration WAIT = Duration.ofSeconds(30);

    @RegisterExtension final NsqFixture nsq = new NsqFixture().client(CLIENT)
        .flags("--tls-cert=" + CERTS.serverCert, "--tls-key=" + CERTS.serverKey,
        "--tls-client-auth-policy=require-verify",
            "--tls-root-ca-file=" + CERTS.ca);

    String[] args(String... more) {
        return TlsTest.with(new String[] {"--nsqd", nsq.tcp().toString(), "--tls-ca", CERTS.ca.toString()}, more);
    }

    static String[] cert(java.nio.file.Path cert, java.nio.file.Path key) {
        return new String[] {"--tls-cert", cert.toString(), "--tls-key", key.toString()};
    }

    @Test void clientCertificatesInBothKeyFormatsDeliverByteExact() throws Exception {
        nsq.prepare("mtls", "g", "sa");
        List<byte[]> bodies = ExactBodies.lines();
        producer p = new producer();
        p.stdin = new ByteArrayInputStream(ExactBodies.stdin(bodies));
        assertEquals(0, Cli.run(p, TlsTest.with(args("-s", "mtls", "-"), cert(CERTS.clientCert, CERTS.clientKey))),
            "producer: " + p.failure());

        ConsumerRun c = new ConsumerRun(TlsTest.with(args("-s", "mtls", "-g", "g", "--format", "json", "--count", "3"),
            cert(CERTS.rsaClientCert, CERTS.rsaPkcs1Key)));
        assertEquals(0, c.await(WAIT), "consumer: " + c.fatal());
        ExactBodies.assertSame(bodies, ExactBodies.fromJson(c.lines()));

        try (WakeupRun run = new WakeupRun()) {
            WakeSocket.Listener sa = run.listen("sa");
            wakeup w = run.start(TlsTest.with(new String[] {"--nsqd-http", nsq.httpAddress().toString(), "--tls-ca",
                CERTS.ca.toString(),
                "--scan-interval", "10m", "--debounce", "0s"}, cert(CERTS.clientCert, CERTS.clientKey)));
            WakeupRun.assertScanThenPushWake(nsq, "mtls", sa, w, WAIT);
        }
    }

    @Test void withoutACertificateNsqdRefusesAndWeSaySo() throws Exception {
        nsq.prepare("nocert", "g", "sa");
        nsq.publish("nocert", 1);
        producer p = new producer();
        assertEquals(1, Cli.run(p, args("-s", "nocert", "--count", "1")));
        assertTrue(p.failure().contains("TLS with nsqd " + nsq.tcp() + " failed: it requires a client certificate"),
            p.failure());

        ConsumerRun c = new ConsumerRun(args("-s", "nocert", "-g", "g"));
        assertEquals(1, c.await(WAIT));
        assertTrue(c.ran().toMillis() < 5_000, "not retried: " + c.ran().toMillis() + " ms");
        assertTrue(c.fatal().getMessage().contains("it requires a client certificate"), c.fatal().getMessage());

        try (WakeupRun run = new WakeupRun()) {
            wakeup w = new wakeup();
            assertEquals(1, run.runToExit(w, WAIT, "--nsqd-http", nsq.httpAddress().toString(), "--tls-ca",
                CERTS.ca.toString()));
            assertTrue(w.failure().getMessage().contains("client certificate"), w.failure().getMessage());
        }
    }

    @Test void aCertificateFromAnotherCaIsRefused() throws Exception {
        nsq.prepare("stranger", "g");
        producer p = new producer();
        assertEquals(1, Cli.run(p, TlsTest.with(args("-s", "stranger", "--count", "1"), cert(CERTS.otherClientCert,
            CERTS.otherClientKey))));
        // The JDK offers only a certificate from a CA nsqd names, so nsqd sees none; we say whose it was.
        assertTrue(p.failure().contains("it requires a client certificate signed by a CA it trusts")
            && p.failure().contains("CN=mqueue-stranger"),
            p.failure());

        ConsumerRun c = new ConsumerRun(TlsTest.with(args("-s", "stranger", "-g", "g"), cert(CERTS.otherClientCert,
            CERTS.otherClientKey)));
        assertEquals(1, c.await(WAIT));
        assertTrue(c.fatal().getMessage().contains("CN=mqueue-stranger) is not"), c.fatal().getMessage());
    }
}
