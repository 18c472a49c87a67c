import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cli.Cli;
import java.nio.file.Path;
import java.time.Duration;
import nsq.NsqConfig;
import nsq.Tls;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * nsqd v1.2.1 speaks TLS 1.2 at most. With --tls-client-auth-policy=require-verify it refuses a client
 * without a certificate it trusts by ending the handshake, and on our side that shows as a "Broken pipe"
 * or "Connection reset" far more often than as a handshake_failure alert (the reset overtakes the alert).
 * Each is nsqd refusing us: the same one clear line as with v1.3.0's TLS 1.3 (TlsClientCertTest), exit 1
 * in seconds, never retried. A client certificate it trusts works as with v1.3.0.
 */
class TlsRefusedByNsqd121Test {
    static final TestCerts CERTS = TestCerts.shared();
    static final NsqConfig CLIENT = NsqConfig.defaults().withTls(Tls.load(CERTS.ca, CERTS.clientCert, CERTS.clientKey,
        false));
    static final Duration WAIT = Duration.ofSeconds(30);
    /** Far below a retry loop's 60 s (--retry-timeout) or 15 s (--connect-timeout); a refusal takes ~0.1 s. */
    static final long AT_ONCE_MS = 5_000;

    @RegisterExtension final NsqFixture nsq = new NsqFixture().nsqdRelease("v1.2.1").client(CLIENT)
        .flags("--tls-cert=" + CERTS.serverCert, "--tls-key=" + CERTS.serverKey,
        "--tls-client-auth-policy=require-verify",
            "--tls-root-ca-file=" + CERTS.ca);

    String[] args(String... more) {
        return TlsTest.with(new String[] {"--nsqd", nsq.tcp().toString(), "--tls-ca", CERTS.ca.toString()}, more);
    }

    @Test void withoutACertificateEveryTryIsOneClearRefusalNeverRetried() throws Exception {
        nsq.prepare("nocert", "g");
        nsq.publish("nocert", 1);
        String says = "TLS with nsqd " + nsq.tcp()
            + " failed: it requires a client certificate (--tls-cert and --tls-key)";
        // The reset and the alert race: ten tries each, every one the same line.
        for (int i = 0; i < 10; i++) {
            producer p = new producer();
            long t0 = System.nanoTime();
            assertEquals(1, Cli.run(p, args("-s", "nocert", "--count", "1")), "try " + i);
            long ms = (System.nanoTime() - t0) / 1_000_000;
            assertTrue(p.failure().contains(says), "try " + i + ": " + p.failure());
            assertTrue(ms < AT_ONCE_MS, "try " + i + ": not retried, exit within " + AT_ONCE_MS + " ms: " + ms + " ms");
            assertEquals(0, p.counters.retries.sum(), "try " + i + ": no retry");

            ConsumerRun c = new ConsumerRun(args("-s", "nocert", "-g", "g"));
            assertEquals(1, c.await(WAIT), "try " + i);
            assertTrue(c.ran().toMillis() < AT_ONCE_MS, "try " + i + ": not retried: " + c.ran().toMillis() + " ms");
            assertTrue(c.fatal().getMessage().contains(says), "try " + i + ": " + c.fatal().getMessage());
        }
        assertEquals(1, nsq.channel("nocert", "g").depth(), "nothing taken");
    }

    @Test void aCertificateFromAnotherCaIsNamedAsNotTrusted() throws Exception {
        nsq.prepare("stranger", "g");
        String[] stranger = cert(CERTS.otherClientCert, CERTS.otherClientKey);
        for (int i = 0; i < 5; i++) {
            producer p = new producer();
            assertEquals(1, Cli.run(p, TlsTest.with(args("-s", "stranger", "--count", "1"), stranger)), "try " + i);
            assertTrue(p.failure().contains("it requires a client certificate signed by a CA it trusts")
                && p.failure().contains("CN=mqueue-stranger"),
                "try " + i + ": " + p.failure());
            ConsumerRun c = new ConsumerRun(TlsTest.with(args("-s", "stranger", "-g", "g"), stranger));
            assertEquals(1, c.await(WAIT), "try " + i);
            assertTrue(c.fatal().getMessage().contains("CN=mqueue-stranger) is not"), "try " + i + ": "
                + c.fatal().getMessage());
        }
    }

    @Test void aCertificateItTrustsDelivers() throws Exception {
        nsq.prepare("mtls", "g");
        producer p = new producer();
        assertEquals(0, Cli.run(p, TlsTest.with(args("-s", "mtls", "--count", "3", "--interval", "1ms"),
            cert(CERTS.clientCert, CERTS.clientKey))),
            "producer: " + p.failure());
        ConsumerRun c = new ConsumerRun(TlsTest.with(args("-s", "mtls", "-g", "g", "--count", "3"),
            cert(CERTS.rsaClientCert, CERTS.rsaPkcs1Key)));
        assertEquals(0, c.await(WAIT), "consumer: " + c.fatal());
        assertEquals(3, c.lines().size());
    }

    static String[] cert(Path cert, Path key) { return new String[] {"--tls-cert", cert.toString(), "--tls-key",
        key.toString()}; }
}
