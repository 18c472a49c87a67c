import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.Map;
import java.util.Random;
import nsq.Compression;
import nsq.Identify;
import nsq.NsqConfig;
import nsq.Tls;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** What IDENTIFY asks for, the compressed streams and PEM files, without nsqd. */
@Tag("unit")
class NegotiationUnitTest {
    static final TestCerts CERTS = TestCerts.shared();

    @Test void compressionNamesItsRule() {
        assertEquals("snappy", Compression.parse("snappy").toString());
        assertEquals(6, Compression.parse("deflate").level(), "nsqd's default level");
        assertEquals(1, Compression.parse("DEFLATE:1").level());
        for (String bad : new String[] {"lz4", "deflate:0", "deflate:10", "deflate:", "deflate:x", ""}) {
            var e = assertThrows(IllegalArgumentException.class, () -> Compression.parse(bad), bad);
            assertTrue(e.getMessage().contains(Compression.RULE), e.getMessage());
        }
    }

    @Test void identifyAsksForWhatIsConfigured() {
        Map<String, Object> plain = Identify.fields(NsqConfig.defaults());
        for (String f : new String[] {"tls_v1", "snappy", "deflate", "output_buffer_size", "msg_timeout"}) {
            assertFalse(plain.containsKey(f), "nothing asked by default: " + f);
        }
        // nsqd's 250 ms would hold a lone message while RDY > 1; 25 ms is the least its default minimum allows.
        assertEquals((long) Identify.OUTPUT_BUFFER_TIMEOUT_MS,
            ((Number) plain.get("output_buffer_timeout")).longValue());
        NsqConfig c = NsqConfig.defaults().withTls(Tls.load(CERTS.ca, null, null,
            false)).withCompression(Compression.parse("deflate:3"))
            .withMsgTimeout(Duration.ofSeconds(90)).withOutputBuffer(4096, Duration.ofMillis(50));
        Map<String, Object> f = Identify.fields(c);
        assertEquals(true, f.get("tls_v1"));
        assertEquals(true, f.get("deflate"));
        assertEquals(3, f.get("deflate_level"));
        assertEquals(90_000L, f.get("msg_timeout"));
        assertEquals(4096, f.get("output_buffer_size"));
        assertEquals(50L, f.get("output_buffer_timeout"));
        // A timeout of 0 is "no buffering": nsqd's -1 size; its -1 timeout alone would stop the flush timer and hold
        // messages.
        Map<String, Object> unbuffered = Identify.fields(NsqConfig.defaults().withOutputBuffer(null, Duration.ZERO));
        assertEquals(-1, unbuffered.get("output_buffer_size"));
        assertNull(unbuffered.get("output_buffer_timeout"));
        assertFalse(c.toString().contains("s3cret"));
        assertFalse(c.withAuthSecret("s3cret").toString().contains("s3cret"), "the secret is never printed");
    }

    /** Bytes a test hands over one burst at a time, as a socket would: available() is what has arrived. */
    static final class Arrivals extends InputStream {
        private byte[] data = new byte[0];
        private int pos;

        void arrive(byte[] more) {
            byte[] all = Arrays.copyOf(data, data.length + more.length);
            System.arraycopy(more, 0, all, data.length, more.length);
            data = all;
        }

        @Override public int read() { return pos < data.length ? data[pos++] & 0xff : -1; }

        @Override public int read(byte[] b, int off, int len) {
            if (pos >= data.length) throw new AssertionError("a read that would block: nothing has arrived");
            int n = Math.min(len, data.length - pos);
            System.arraycopy(data, pos, b, off, n);
            pos += n;
            return n;
        }

        @Override public int available() { return data.length - pos; }
    }

    /**
     * Each flush() is one burst on the wire; the reader sees exactly what was flushed, and then that nothing more is
     * there.
     */
    static void assertBurstsRoundTrip(Compression c, byte[]... frames) throws IOException {
        ByteArrayOutputStream wire = new ByteArrayOutputStream();
        OutputStream out = c.output(wire);
        Arrivals arrivals = new Arrivals();
        InputStream in = null;
        for (byte[] frame : frames) {
            out.write(frame);
            out.flush();
            arrivals.arrive(wire.toByteArray());
            wire.reset();
            if (in == null) in = c.input(arrivals);
            byte[] got = new byte[frame.length];
            new DataInputStream(in).readFully(got);
            assertArrayEquals(frame, got, c + ": a frame of " + frame.length + " bytes");
            assertEquals(0, in.available(), c + ": nothing more buffered after the burst (a batch ends here)");
        }
    }

    @Test void deflateAndSnappyCarryBurstsExactly() throws IOException {
        byte[] random = new byte[300_000];
        new Random(7).nextBytes(random);
        byte[] text = "a compressible message body ".repeat(10_000).getBytes(StandardCharsets.US_ASCII);
        for (String c : new String[] {"deflate", "deflate:1", "deflate:9", "snappy"}) {
            assertBurstsRoundTrip(Compression.parse(c), "OK".getBytes(StandardCharsets.US_ASCII), random, text,
                new byte[] {0, 1, 2});
        }
    }

    @Test void deflateIsNotZlibAndSnappyIsFramed() throws IOException {
        ByteArrayOutputStream wire = new ByteArrayOutputStream();
        OutputStream out = Compression.parse("snappy").output(wire);
        out.write('x');
        out.flush();
        // The framing format starts with its stream identifier chunk: 0xff, length 6, "sNaPpY".
        byte[] head = Arrays.copyOf(wire.toByteArray(), 10);
        assertArrayEquals(new byte[] {(byte) 0xff, 6, 0, 0, 's', 'N', 'a', 'P', 'p', 'Y'}, head);
        // Raw deflate as Go's compress/flate writes it: no 0x78 zlib header.
        wire.reset();
        out = Compression.parse("deflate").output(wire);
        out.write('x');
        out.flush();
        assertTrue(wire.size() > 0 && wire.toByteArray()[0] != 0x78, "raw deflate");
        var in = Compression.parse("deflate").input(new ByteArrayInputStream(new byte[] {1, 2, 3, 4, 5}));
        assertThrows(IOException.class, in::read, "garbage is an error, not a hang");
    }

    /**
     * Bad TLS, compression and buffering options: exit 2 with one line naming the value and the rule, before any
     * connection.
     */
    @Test void badOptionsAreUsageErrors(@TempDir Path tmp) {
        String[][] cases = {
            {"--compression 'lz4': " + Compression.RULE, "--compression", "lz4"},
            {"--tls-cert and --tls-key: a client certificate needs both (got only --tls-cert)", "--tls-cert",
                CERTS.clientCert.toString()},
            {"--tls-insecure with --tls-ca: the CA would not be used", "--tls-insecure", "--tls-ca",
                CERTS.ca.toString()},
            {"--tls-ca '" + tmp.resolve("missing.pem") + "': no such file", "--tls-ca",
                tmp.resolve("missing.pem").toString()},
            {"--tls-ca '" + CERTS.clientKey + "': no PEM certificate", "--tls-ca", CERTS.clientKey.toString()},
            {"--heartbeat-interval 500ms: must be 1s to 60s", "--heartbeat-interval", "500ms"},
        };
        for (String[] c : cases) {
            String[] args = new String[c.length - 1 + 4];
            System.arraycopy(new String[] {"-s", "t", "--nsqd", "127.0.0.1:1"}, 0, args, 0, 4);
            System.arraycopy(c, 1, args, 4, c.length - 1);
            InProcess r = InProcess.run(new producer(), args);
            assertEquals(2, r.code(), String.join(" ", args) + ": " + r.err());
            assertTrue(r.firstErr().contains(c[0]), "expected '" + c[0] + "' in: " + r.err());
        }
        String[][] consumerCases = {
            {"--output-buffer-size 10: must be 64 to 65536 bytes", "--output-buffer-size", "10"},
            {"--output-buffer-size with --output-buffer-timeout 0", "--output-buffer-size", "1024",
                "--output-buffer-timeout", "0"},
            {"--msg-timeout 500ms: must be at least 1s", "--msg-timeout", "500ms"},
        };
        for (String[] c : consumerCases) {
            String[] args = new String[c.length - 1 + 6];
            System.arraycopy(new String[] {"-s", "t", "-g", "g", "--nsqd", "127.0.0.1:1"}, 0, args, 0, 6);
            System.arraycopy(c, 1, args, 6, c.length - 1);
            InProcess r = InProcess.run(new consumer(), args);
            assertEquals(2, r.code(), String.join(" ", args) + ": " + r.err());
            assertTrue(r.firstErr().contains(c[0]), "expected '" + c[0] + "' in: " + r.err());
        }
    }

    @Test void pemKeysInPkcs8AndPkcs1AreRead(@TempDir Path tmp) throws IOException {
        assertFalse(Tls.load(CERTS.ca, CERTS.clientCert, CERTS.clientKey, false).toString().isEmpty(),
            "EC key, PKCS#8");
        assertTrue(Files.readString(CERTS.rsaPkcs1Key).startsWith("-----BEGIN RSA PRIVATE KEY-----"),
            "openssl wrote PKCS#1");
        assertTrue(Tls.load(CERTS.ca, CERTS.rsaClientCert, CERTS.rsaPkcs1Key,
            false).toString().contains("mqueue-rsa-client"));

        var swapped = assertThrows(IllegalArgumentException.class, () -> Tls.load(CERTS.ca, CERTS.clientKey,
            CERTS.clientCert, false));
        assertTrue(swapped.getMessage().contains(CERTS.clientKey.toString()), swapped.getMessage());
        Path encrypted = tmp.resolve("enc.key");
        Files.writeString(encrypted,
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n");
        var enc = assertThrows(IllegalArgumentException.class, () -> Tls.load(null, CERTS.clientCert, encrypted,
            false));
        assertTrue(enc.getMessage().contains("encrypted") && enc.getMessage().contains("openssl pkcs8"),
            enc.getMessage());
        var missing = assertThrows(IllegalArgumentException.class, () -> Tls.load(tmp.resolve("nope.pem"), null, null,
            false));
        assertTrue(missing.getMessage().contains("nope.pem"), missing.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Tls.load(null, CERTS.clientCert, null, false),
            "a certificate needs its key");
    }
}
