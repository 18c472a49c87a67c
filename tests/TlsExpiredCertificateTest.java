import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cli.Cli;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * nsqd serving a certificate signed by the CA we trust, but expired: each tool says that it expired
 * (the JDK's PKIX words, "path validation failed", read like an untrusted CA), exit 1, never retried.
 */
class TlsExpiredCertificateTest {
    static final TestCerts CERTS = TestCerts.shared();
    static final Path EXPIRED = expiredServerCertificate();

    @RegisterExtension final NsqFixture nsq = new NsqFixture().flags("--tls-cert=" + EXPIRED, "--tls-key="
        + CERTS.serverKey);

    @Test void anExpiredCertificateIsCalledExpiredNotUntrusted() throws Exception {
        String[] args = {"--nsqd", nsq.tcp().toString(), "--tls-ca", CERTS.ca.toString()};
        producer p = new producer();
        assertEquals(1, Cli.run(p, TlsTest.with(args, "-s", "expired", "--count", "1")));
        assertTrue(p.failure().contains("TLS with nsqd " + nsq.tcp() + " failed: its certificate has expired"),
            p.failure());
        assertFalse(p.failure().contains("not signed by a CA we trust"), p.failure());
        assertEquals(0, p.counters.retries.sum(), "not retried");

        ConsumerRun c = new ConsumerRun(TlsTest.with(args, "-s", "expired", "-g", "g"));
        assertEquals(1, c.await(TlsTest.WAIT));
        assertTrue(c.fatal().getMessage().contains("its certificate has expired"), c.fatal().getMessage());
    }

    /** nsqd's own key, certified by the trusted CA until a day before it was issued (openssl accepts -days -1). */
    private static Path expiredServerCertificate() {
        Path out = CERTS.dir.resolve("expired-server.pem");
        List<String> cmd = List.of("openssl", "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial",
            "-out", out.getFileName().toString(), "-days", "-1", "-extfile", "server.ext");
        try {
            Process proc = new ProcessBuilder(cmd).directory(CERTS.dir.toFile()).redirectErrorStream(true)
                .redirectOutput(CERTS.dir.resolve("expired.log").toFile()).start();
            if (!proc.waitFor(30, TimeUnit.SECONDS) || proc.exitValue() != 0) {
                throw new IllegalStateException(String.join(" ", cmd) + " failed: "
                    + java.nio.file.Files.readString(CERTS.dir.resolve("expired.log")));
            }
        } catch (IOException e) {
            throw new IllegalStateException("cannot run openssl: " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
        return out;
    }
}
