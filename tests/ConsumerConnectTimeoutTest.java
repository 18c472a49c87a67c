import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import nsq.HostPort;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * --connect-timeout: an nsqd that is slow to take connections is waited for; a refusal fails within
 * 5 s (ConsumerTest.unreachableHostsExit1Quickly); a peer that takes the connection and then says
 * nothing (a SIGSTOPped nsqd does that) is waited for too: silence is not proof of a wrong peer.
 */
class ConsumerConnectTimeoutTest {
    @RegisterExtension final NsqFixture nsq = new NsqFixture();

    @Test void zeroIsAUsageError() {
        InProcess run = InProcess.run(new consumer(), "--nsqd", "127.0.0.1:1", "-s", "s", "-g", "g",
            "--connect-timeout", "0");
        assertEquals(2, run.code());
        assertTrue(run.firstErr().contains("--connect-timeout"), run.err());
    }

    @Test void aHangingConnectIsWaitedForUntilTheConnectTimeout() throws Exception {
        try (SlowProxy stuck = new SlowProxy(null)) {
            ConsumerRun r = new ConsumerRun("--nsqd", "127.0.0.1:" + stuck.port(), "-s", "s", "-g", "g",
                "--connect-timeout", "7s");
            assertEquals(1, r.await(Duration.ofSeconds(60)));
            assertTrue(r.ran().compareTo(Duration.ofSeconds(7)) >= 0, "gave up before --connect-timeout 7s: "
                + r.ran());
        }
    }

    @Test void aSilentPeerIsWaitedForUntilTheConnectTimeout() throws Exception {
        try (FakePeer silent = FakePeer.silent()) {
            ConsumerRun r = new ConsumerRun("--nsqd", silent.address().toString(), "-s", "s", "-g", "g",
                "--connect-timeout", "7s");
            assertEquals(1, r.await(Duration.ofSeconds(60)));
            assertTrue(r.ran().compareTo(Duration.ofSeconds(7)) >= 0, "gave up before --connect-timeout 7s: "
                + r.ran());
            assertEquals(null, r.fatal(), "an outage, not a wrong peer");
            assertTrue(silent.connections() >= 2, "tried again: " + silent.connections() + " connection(s)");
        }
    }

    @Test void nsqdThatTakesConnectionsOnlyAfterSixSecondsIsRead() throws Exception {
        nsq.prepare("late", "g");
        nsq.publish("late", List.of("hello"));
        try (SlowProxy proxy = new SlowProxy(nsq.tcp())) {
            // Past the 5 s that a refusal gets; within the default --connect-timeout (15s).
            ConsumerRun r = new ConsumerRun("--nsqd", "127.0.0.1:" + proxy.port(), "-s", "late", "-g", "g");
            proxy.openAfter(Duration.ofSeconds(6));
            Await.until("the message printed through the late proxy", Duration.ofSeconds(40),
                () -> r.code == null && r.lines().contains("hello"));
            assertEquals(0, r.stop());
            assertEquals(1, r.finished());
        }
    }

    /**
     * A listener whose accept queue is full, so the kernel drops new SYNs and connects hang (slow,
     * not refused); once opened, it accepts and pipes to {@code target}.
     */
    static final class SlowProxy implements AutoCloseable {
        private final ServerSocket server = new ServerSocket(0, 1, InetAddress.getLoopbackAddress());
        private final List<Socket> sockets = new CopyOnWriteArrayList<>();
        private final HostPort target;

        SlowProxy(HostPort target) throws IOException {
            this.target = target;
            for (int i = 0; i < 4; i++) { // more than the backlog holds: the queue is full
                Socket filler = new Socket();
                try {
                    filler.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), port()), 200);
                } catch (IOException queueFull) {
                    filler.close();
                    continue;
                }
                sockets.add(filler);
            }
        }

        int port() { return server.getLocalPort(); }

        /** After {@code delay}: empty the queue, then accept and pipe every later connection. */
        void openAfter(Duration delay) {
            daemon(() -> {
                try {
                    Thread.sleep(delay.toMillis()); // the time the proxy stays slow: what is being tested
                    for (Socket s : sockets) s.close();
                    while (!server.isClosed()) {
                        Socket client = server.accept();
                        sockets.add(client);
                        Socket upstream;
                        try {
                            upstream = new Socket(target.host(), target.port());
                        } catch (IOException fillerOrGone) {
                            client.close();
                            continue;
                        }
                        sockets.add(upstream);
                        daemon(() -> pipe(client, upstream));
                        daemon(() -> pipe(upstream, client));
                    }
                } catch (IOException | InterruptedException closed) {
                    // the test is over
                }
            });
        }

        private static void pipe(Socket from, Socket to) {
            try (InputStream in = from.getInputStream(); OutputStream out = to.getOutputStream()) {
                in.transferTo(out);
            } catch (IOException closed) {
                // one side went away; closing both ends the other pipe too
            }
        }

        private static void daemon(Runnable r) {
            Thread t = new Thread(r, "slow-proxy");
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
