import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The consumer side of socket activation: wakes keep it alive; one real run under systemd-socket-activate. */
class ConsumerSocketActivationTest {
    @RegisterExtension final NsqFixture nsq = new NsqFixture();

    private String[] args(String stream, String group, String... more) {
        List<String> a = new ArrayList<>(List.of("--nsqd", nsq.tcp().toString(), "-s", stream, "-g", group));
        a.addAll(List.of(more));
        return a.toArray(new String[0]);
    }

    @Test void wakesCountAsActivityAndTheDefaultTimeoutIs30s() throws Exception {
        Path sock = nsq.dir().resolve("g.sock");
        try (WakeSocket.Listener listener = WakeSocket.Listener.bind(sock)) {
            ConsumerTest.Run defaults = run(listener, args("sa", "g"));
            Await.until("running", Duration.ofSeconds(20), () -> defaults.c.idleTimeout != null);
            assertEquals(Duration.ofSeconds(30), defaults.c.idleTimeout);
            assertEquals(0, defaults.stop());

            ConsumerTest.Run r = run(listener, args("sa", "g", "--timeout", "2"));
            Await.until("accepting wakes", Duration.ofSeconds(20), () -> r.c.idleTimeout != null);
            // Wakes every 0.5 s for 4 s: a 2 s idle timeout must not fire in between.
            long until = System.nanoTime() + Duration.ofSeconds(4).toNanos(), lastWake = 0;
            while (System.nanoTime() < until) {
                WakeSocket.wake(sock, new WakeSocket.Wake("sa", "g"), Duration.ofSeconds(5));
                lastWake = System.nanoTime();
                assertTrue(r.thread.isAlive(), "a wake keeps it running");
                Thread.sleep(500); // pacing the wakes, not synchronisation
            }
            assertEquals(0, r.await(Duration.ofSeconds(20)));
            assertTrue(r.endedNanos - lastWake >= Duration.ofMillis(1800).toNanos(), "exited a timeout after the last wake");
            assertTrue(listener.wakes() >= 8);
        }
    }

    private static ConsumerTest.Run run(WakeSocket.Listener listener, String... args) {
        return new ConsumerTest.Run(c -> c.listener = listener, args);
    }

    /**
     * The real thing: no process before the first connection; a connection starts the consumer, which
     * answers it, drains what waits and exits 0 after its idle timeout; a second wake keeps it alive.
     */
    @Test void underSystemdSocketActivate() throws Exception {
        Path tool = Path.of("/usr/bin/systemd-socket-activate");
        // .ci/run installs it (Debian's systemd package); a missing tool is a failure, not a skip.
        assertTrue(Files.isExecutable(tool), "systemd-socket-activate is not installed (apt-get install systemd)");
        ConsumerTest.prepare(nsq.http(), "sa-real", "sa-consumer");
        List<String> sent = ConsumerTest.bodies("w", 20);
        ConsumerTest.publish(nsq.tcp(), "sa-real", sent);
        Path sock = nsq.dir().resolve("g.sock");
        List<String> cmd = new ArrayList<>(List.of(tool.toString(), "-l", sock.toString()));
        cmd.addAll(ConsumerTest.javaConsumer(args("sa-real", "sa-consumer", "--timeout", "3")));
        Spawned p = nsq.spawn(cmd, Map.of());
        Await.until("listening on " + sock, Duration.ofSeconds(10), () -> Files.exists(sock));
        assertTrue(p.process.isAlive());
        assertTrue(p.process.info().command().orElse("").endsWith("systemd-socket-activate"), "no consumer before the first wake");
        assertEquals(0, p.process.descendants().count(), "no child process either");

        WakeSocket.wake(sock, new WakeSocket.Wake("sa-real", "sa-consumer"), Duration.ofSeconds(30));
        assertTrue(p.process.info().command().orElse("").endsWith("java"), "the wake started the consumer in place");
        Await.until("the 20 waiting messages drained", Duration.ofSeconds(30),
            () -> ConsumerTest.channel(nsq.http(), "sa-real", "sa-consumer").depth() == 0
                && ConsumerTest.channel(nsq.http(), "sa-real", "sa-consumer").inFlightCount() == 0);
        WakeSocket.wake(sock, new WakeSocket.Wake("sa-real", "sa-consumer"), Duration.ofSeconds(10));
        long secondWake = System.nanoTime();
        assertEquals(0, p.waitFor(Duration.ofSeconds(30)), p.stderr());
        long exited = System.nanoTime();
        assertTrue(exited - secondWake >= Duration.ofMillis(2500).toNanos(),
            "the second wake restarted the 3 s idle timer: exited " + (exited - secondWake) / 1_000_000 + " ms after it");
        assertEquals(new HashSet<>(sent), new HashSet<>(p.stdout().lines().toList()));
        assertTrue(p.stderr().contains("exiting after 3s idle"), p.stderr());
    }
}
