import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** --connect-timeout: a slow nsqd at start is waited for; refusals still fail fast (ConsumerTest.unreachableHostsExit1Quickly). */
class ConsumerConnectTimeoutTest {
    @RegisterExtension final NsqFixture nsq = new NsqFixture();

    @Test void zeroIsAUsageError() {
        assertEquals(2, ConsumerTest.usage("--nsqd", "127.0.0.1:1", "-s", "s", "-g", "g", "--connect-timeout", "0"));
        assertTrue(ConsumerTest.lastErr.contains("--connect-timeout"), ConsumerTest.lastErr);
    }

    @Test void aSilentHostIsWaitedForUntilTheConnectTimeout() throws Exception {
        try (ServerSocket silent = new ServerSocket(0, 50, InetAddress.getLoopbackAddress())) {
            // The kernel accepts the connection and nobody answers: slow, not refused.
            ConsumerTest.Run r = new ConsumerTest.Run("--nsqd", "127.0.0.1:" + silent.getLocalPort(), "-s", "s", "-g", "g",
                "--connect-timeout", "7s");
            assertEquals(1, r.await(Duration.ofSeconds(60)));
            assertTrue(r.ran().compareTo(Duration.ofSeconds(7)) >= 0, "gave up before --connect-timeout 7s: " + r.ran());
        }
    }

    @Test void nsqdThatAnswersOnlyAfterSixSecondsIsRead() throws Exception {
        ConsumerTest.prepare(nsq.http(), "late", "g");
        ConsumerTest.publish(nsq.tcp(), "late", List.of("hello"));
        try (LateProxy proxy = new LateProxy(nsq.tcp(), Duration.ofSeconds(6))) {
            // Past the 5 s the consumer used to allow; within the default --connect-timeout (15s).
            ConsumerTest.Run r = new ConsumerTest.Run("--nsqd", "127.0.0.1:" + proxy.port(), "-s", "late", "-g", "g");
            Await.until("the message printed through the late proxy", Duration.ofSeconds(40),
                () -> r.code == null && r.lines().contains("hello"));
            assertEquals(0, r.stop());
            assertEquals(1, r.c.finished.get());
        }
    }

    /** Holds every connection made before {@code openAfter} unanswered; pipes later ones to nsqd. */
    static final class LateProxy implements AutoCloseable {
        private final ServerSocket server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        private final List<Socket> sockets = new CopyOnWriteArrayList<>();

        LateProxy(HostPort target, Duration openAfter) throws IOException {
            long openAt = System.nanoTime() + openAfter.toNanos();
            daemon(() -> {
                while (!server.isClosed()) {
                    try {
                        Socket client = server.accept();
                        sockets.add(client);
                        if (System.nanoTime() < openAt) continue; // held: the consumer times out and retries
                        Socket upstream = new Socket(target.host(), target.port());
                        sockets.add(upstream);
                        daemon(() -> pipe(client, upstream));
                        daemon(() -> pipe(upstream, client));
                    } catch (IOException closed) {
                        return;
                    }
                }
            });
        }

        int port() { return server.getLocalPort(); }

        private static void pipe(Socket from, Socket to) {
            try (InputStream in = from.getInputStream(); OutputStream out = to.getOutputStream()) {
                in.transferTo(out);
            } catch (IOException closed) {
                // one side went away; closing both ends the other pipe too
            }
        }

        private static void daemon(Runnable r) {
            Thread t = new Thread(r, "late-proxy");
            t.setDaemon(true);
            t.start();
        }

        @Override
        public void close() throws IOException {
            server.close();
            for (Socket s : sockets) s.close();
        }
    }
}
