import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cli.Cli;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import nsq.HostPort;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Runs that cannot succeed say so: a JVM Error (OutOfMemoryError ...) on a worker or reader
 * thread never ends in exit 0, and --retry-timeout (producer) and --connect-timeout (consumer)
 * are hard bounds even when a TCP connect hangs.
 */
class FailureExitTest {
    @RegisterExtension final NsqFixture nsq = new NsqFixture();

    /** A port whose listen queue is full: the kernel drops our SYN, so a connect hangs until its timeout. */
    static final class HangingPort implements AutoCloseable {
        final ServerSocket server = new ServerSocket(0, 1, InetAddress.getLoopbackAddress());
        final List<Socket> queued = new ArrayList<>();

        HangingPort() throws IOException {
            for (int i = 0; i < 10; i++) {
                Socket s = new Socket();
                try {
                    s.connect(server.getLocalSocketAddress(), 300);
                    queued.add(s);
                } catch (SocketTimeoutException full) {
                    s.close();
                    return;
                }
            }
            throw new IllegalStateException("the listen queue never filled: connects would not hang");
        }

        HostPort address() { return new HostPort("127.0.0.1", server.getLocalPort()); }

        @Override
        public void close() throws IOException {
            for (Socket s : queued) s.close();
            server.close();
        }
    }

    @Test void anErrorOnAProducerThreadIsExit1() throws Exception {
        producer p = new producer();
        p.stdin = new InputStream() {
            @Override public int read() { throw new OutOfMemoryError("test: no heap left while reading stdin"); }
            @Override public int read(byte[] b, int off, int len) { return read(); }
        };
        assertEquals(1, Cli.run(p, "-s", "oom", "--nsqd", nsq.tcp().toString(), "-"));
        assertTrue(p.failure().startsWith("OutOfMemoryError: test: no heap left"), p.failure());
    }

    @Test void anErrorWhileHandlingAMessageIsExit1AndTheMessageGoesBack() throws Exception {
        nsq.prepare("oom", "g");
        nsq.publish("oom", List.of("m0"));
        ConsumerRun c = new ConsumerRun(x -> x.c.out = new OutputStream() {
            @Override public void write(int b) { throw new OutOfMemoryError("test: no heap left while printing"); }
        }, "-s", "oom", "-g", "g", "--nsqd", nsq.tcp().toString());
        assertEquals(1, c.await(Duration.ofSeconds(30)));
        Await.until("the message is back in nsqd, not left to its msg-timeout", Duration.ofSeconds(10),
            () -> nsq.channel("oom", "g").depth() == 1 && nsq.channel("oom", "g").inFlightCount() == 0);
    }

    @Test void retryTimeoutHoldsWhenTheConnectHangs() throws Exception {
        try (HangingPort hang = new HangingPort()) {
            producer p = new producer();
            long t0 = System.nanoTime();
            assertEquals(1, Cli.run(p, "-s", "hang", "--nsqd", hang.address().toString(), "--count", "1",
                "--retry-timeout", "2s"));
            long ms = (System.nanoTime() - t0) / 1_000_000;
            assertTrue(ms < 2_000 + 1_000, "--retry-timeout 2s is a hard bound, connect included: exited after " + ms
                + " ms");
            assertTrue(p.failure().contains("retry timeout 2s") && p.failure().contains(hang.address().toString()),
                p.failure());

            ConsumerRun c = new ConsumerRun("-s", "hang", "-g", "g", "--nsqd", hang.address().toString(),
                "--connect-timeout", "2s");
            assertEquals(1, c.await(Duration.ofSeconds(30)));
            // Plus up to 1 s in which close() waits for a reader thread still inside a connect.
            assertTrue(c.ran().toMillis() < 2_000 + 1_000 + 1_000, "--connect-timeout 2s holds: " + c.ran().toMillis()
                + " ms");
        }
    }
}
