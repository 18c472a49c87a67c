import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import activation.WakeSocket;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import nsq.NsqConfig;
import nsq.publish.Publisher;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.newsclub.net.unix.AFUNIXSocket;
import org.newsclub.net.unix.AFUNIXSocketAddress;

/**
 * consumer.java under the real systemd-socket-activate (PID 1 is not systemd here): nothing runs
 * before the first wake; a wake starts it, it drains and exits 0 when idle; wakes while it runs
 * are answered, keep it alive and restart its idle timer; garbage and silent clients cannot stall it.
 */
@Tag("process")
class SocketActivationTest {
    static final String STREAM = "sa-stream", GROUP = "sa-group";
    static final Duration GENEROUS = Duration.ofSeconds(60);

    @RegisterExtension final NsqFixture nsq = new NsqFixture();

    Path socket() { return nsq.dir().resolve(GROUP + ".sock"); }

    /** systemd-socket-activate on the group's socket, running the consumer with fd 3 when woken. */
    Spawned activate(String timeout) throws IOException {
        List<String> cmd = new ArrayList<>(List.of("systemd-socket-activate", "-l", socket().toString(), "-E",
            "LANG=C.UTF-8", "--"));
        cmd.addAll(Spawned.java("consumer", "--stream", STREAM, "--group", GROUP, "--nsqd", nsq.tcp().toString(),
            "--timeout", timeout));
        return nsq.spawn(cmd, Map.of());
    }

    void publish(int n, String prefix) throws IOException { nsq.publish(STREAM, NsqFixture.bodies(prefix, n)); }

    void createGroup() throws IOException { nsq.prepare(STREAM, GROUP); }

    void awaitListening(Spawned p) throws InterruptedException {
        Await.until("systemd-socket-activate listens on " + socket(), GENEROUS, () -> {
            if (!p.process.isAlive()) throw new IllegalStateException("systemd-socket-activate exited: " + p.stderr());
            return p.stderr().contains("Listening on");
        });
    }

    static boolean consumerStarted(Spawned p) {
        // systemd-socket-activate execs the consumer in place: same pid, new command.
        return p.process.info().command().map(c -> c.endsWith("/java")).orElse(false);
    }

    Duration wake(Duration timeout) throws IOException {
        return WakeSocket.wake(socket(), new WakeSocket.Wake(STREAM, GROUP), timeout);
    }

    static Set<String> lines(String text) {
        Set<String> set = new HashSet<>();
        for (String l : text.split("\n")) if (!l.isBlank()) set.add(l);
        return set;
    }

    @Test void firstWakeStartsItItDrainsAndExitsWhenIdle() throws Exception {
        createGroup();
        publish(50, "m");
        Spawned p = activate("2s");
        awaitListening(p);
        assertTrue(p.process.isAlive() && !consumerStarted(p) && p.process.children().count() == 0,
            "no consumer process before the first connection");
        wake(GENEROUS);
        assertTrue(consumerStarted(p), "the wake started the consumer in place of systemd-socket-activate");
        Await.until("all 50 messages on stdout", GENEROUS, () -> lines(p.stdout()).size() == 50);
        wake(Duration.ofSeconds(10));
        long secondWake = System.nanoTime();
        assertEquals(0, p.waitFor(GENEROUS), "exit 0 after the idle timeout; stderr: " + p.stderr());
        assertTrue(System.nanoTime() - secondWake >= Duration.ofMillis(1500).toNanos(),
            "a wake while it runs restarts the 2 s idle timer: exited " + (System.nanoTime() - secondWake) / 1_000_000
                + " ms after it");
        assertTrue(p.stderr().contains("exiting after 2s idle"), p.stderr());
        Set<String> expected = new HashSet<>();
        for (int i = 0; i < 50; i++) expected.add("m" + i);
        assertEquals(expected, lines(p.stdout()));
        var stats = nsq.http().stats(STREAM, GROUP).topic(STREAM).channel(GROUP);
        assertEquals(0, stats.depth() + stats.inFlightCount(), "nothing left waiting or in flight");
    }

    @Test void wakesWhileRunningAreAnsweredAndKeepItAlive() throws Exception {
        createGroup();
        publish(1, "a");
        Spawned p = activate("3s");
        awaitListening(p);
        wake(GENEROUS);
        Await.until("first message handled", GENEROUS, () -> lines(p.stdout()).contains("a0"));
        // Keep waking for longer than the idle timeout: each wake is answered, and it stays up.
        long until = System.nanoTime() + Duration.ofSeconds(7).toNanos();
        int answered = 0;
        while (System.nanoTime() < until) {
            wake(Duration.ofSeconds(10));
            answered++;
            Thread.sleep(1_000); // pacing the wakes, not synchronisation
        }
        assertTrue(p.process.isAlive(), "wakes within the idle window kept it running (" + answered + " answered)");
        publish(1, "b");
        Await.until("a message published later is handled by the same process", GENEROUS,
            () -> lines(p.stdout()).contains("b0"));
        assertEquals(0, p.waitFor(GENEROUS), "exits 0 once the wakes stop; stderr: " + p.stderr());
    }

    @Test void garbageAndSilentClientsDoNotStallIt() throws Exception {
        createGroup();
        Spawned p = activate("3s");
        awaitListening(p);
        try (AFUNIXSocket silent = AFUNIXSocket.connectTo(AFUNIXSocketAddress.of(socket()))) {
            Await.until("the silent client started the consumer", GENEROUS, () -> consumerStarted(p));
            try (AFUNIXSocket garbage = AFUNIXSocket.connectTo(AFUNIXSocketAddress.of(socket()))) {
                garbage.setSoTimeout(5_000);
                byte[] mb = new byte[1 << 20];
                java.util.Arrays.fill(mb, (byte) 'x');
                OutputStream out = garbage.getOutputStream();
                try {
                    out.write(mb);
                } catch (IOException closedByConsumer) {
                    // expected: the consumer reads one short line's worth and closes
                    assertTrue(closedByConsumer.getMessage() != null);
                }
            }
            Duration rtt = wake(Duration.ofSeconds(30));
            assertTrue(rtt.toMillis() < 30_000, "a real wake is answered while both bad clients are connected");
            publish(1, "g");
            Await.until("it still handles messages", GENEROUS, () -> lines(p.stdout()).contains("g0"));
        }
        assertEquals(0, p.waitFor(GENEROUS), "and exits 0 when idle; stderr: " + p.stderr());
    }

    @Test void socketActivationWithoutASocketIsAUsageError() throws Exception {
        Spawned p = nsq.spawn(Spawned.java("consumer",
            "--socket-activation", "--stream", STREAM, "--group", GROUP, "--nsqd", nsq.tcp().toString()), Map.of());
        assertEquals(2, p.waitFor(GENEROUS), "exit 2; stderr: " + p.stderr());
        String err = p.stderr().strip();
        assertTrue(err.contains("--socket-activation") && err.lines().count() <= 2, "one clear line: " + err);
        assertEquals("", p.stdout());
    }
}
