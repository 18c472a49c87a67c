import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import activation.WakeSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import wake.GroupWaker;
import wake.SocketDir;

/**
 * GroupWaker against WakeSocket.Listeners and stand-in sockets in a temp dir: socket checks, debounce, retries, the
 * bound on wakes. No nsqd.
 */
@Tag("unit")
class GroupWakerTest {
    static final Duration WAIT = Duration.ofSeconds(30);
    private Path dir;
    private final List<AutoCloseable> closing = new ArrayList<>();

    @BeforeEach void dir() throws Exception { dir = Files.createTempDirectory("mq-gw-"); }

    @AfterEach void cleanup() throws Exception {
        for (AutoCloseable c : closing) c.close();
        TestCerts.delete(dir);
    }

    GroupWaker waker(Duration debounce, Duration timeout, int maxUnderWay) {
        GroupWaker w = new GroupWaker(dir, debounce, timeout, maxUnderWay).start();
        closing.add(0, w);
        return w;
    }

    WakeSocket.Listener listen(Path path) throws Exception {
        WakeSocket.Listener l = WakeSocket.Listener.bind(path);
        l.start(wake -> {});
        closing.add(l);
        return l;
    }

    static void awaitQuiet(GroupWaker w) throws Exception {
        Await.until("every wake asked for is over", WAIT, () -> w.quiet().get(WAIT.toSeconds(), TimeUnit.SECONDS));
    }

    @Test void onlyASocketIsSocketBacked() throws Exception {
        Files.writeString(dir.resolve("file.sock"), "x");
        Files.createDirectory(dir.resolve("dir.sock"));
        listen(dir.resolve("g.sock"));
        assertEquals(SocketDir.Kind.MISSING, SocketDir.kind(dir.resolve("none.sock")));
        assertEquals(SocketDir.Kind.NOT_A_SOCKET, SocketDir.kind(dir.resolve("file.sock")));
        assertEquals(SocketDir.Kind.NOT_A_SOCKET, SocketDir.kind(dir.resolve("dir.sock")));
        assertEquals(SocketDir.Kind.SOCKET, SocketDir.kind(dir.resolve("g.sock")));

        GroupWaker w = waker(Duration.ZERO, WAIT, 4);
        assertNull(w.state("none"), "never looked at");
        for (String g : List.of("none", "file", "dir", "g")) w.request("s", g, GroupWaker.Reason.scan);
        awaitQuiet(w);
        assertEquals("no socket", w.state("none"));
        assertEquals("not a socket", w.state("file"));
        assertEquals("not a socket", w.state("dir"));
        assertEquals("ok", w.state("g"));
        assertEquals(1, w.wakes("g"));
    }

    /** A G.sock symlink is refused, even to a real socket: whoever can plant it would get the wakes. */
    @Test void aSymlinkIsRefusedEvenToARealSocket() throws Exception {
        Path elsewhere = dir.resolve("elsewhere");
        WakeSocket.Listener l = listen(elsewhere);
        Files.createSymbolicLink(dir.resolve("g.sock"), elsewhere);
        assertEquals(SocketDir.Kind.SYMLINK, SocketDir.kind(dir.resolve("g.sock")));
        GroupWaker w = waker(Duration.ZERO, WAIT, 4);
        w.request("s", "g", GroupWaker.Reason.scan);
        awaitQuiet(w);
        assertEquals("symlink", w.state("g"));
        assertTrue(w.status().iterator().next().lastError().message().contains("is a symlink (to " + elsewhere + ")"));
        assertEquals(0, l.wakes(), "the socket behind the link was never woken");
    }

    @Test void aBurstInsideTheDebounceIsOneWake() throws Exception {
        WakeSocket.Listener l = listen(dir.resolve("g.sock"));
        GroupWaker w = waker(Duration.ofMinutes(10), WAIT, 4);
        for (int i = 0; i < 20; i++) w.request("s", "g", GroupWaker.Reason.push);
        Await.until("g is woken", WAIT, () -> w.wakes("g") == 1);
        assertEquals("ok", w.state("g"));
        w.request("s", "g", GroupWaker.Reason.scan);
        awaitQuiet(w);
        assertEquals(1, l.wakes(), "one wake for the burst and the scan within --debounce");
        GroupWaker.Wake last = w.status().iterator().next().lastWake();
        assertEquals(GroupWaker.Reason.push, last.reason(), "the wake says why it happened");
    }

    /**
     * A scan's wake tells the consumer it came for a backlog (it may then leave after --backlog-linger); a fresh
     * publish inside the debounce that follows is not dropped as a burst would be: the consumer hears of it once the
     * debounce is over, so it keeps its idle time. A second fresh publish in that window adds nothing.
     */
    @Test void aScanWakeSaysBacklogAndAFreshPublishRightAfterStillReachesTheConsumer() throws Exception {
        List<WakeSocket.Wake> heard = new java.util.concurrent.CopyOnWriteArrayList<>();
        WakeSocket.Listener l = WakeSocket.Listener.bind(dir.resolve("g.sock"));
        l.start(heard::add);
        closing.add(l);
        GroupWaker w = waker(Duration.ofMillis(500), WAIT, 4);
        w.request("s", "g", GroupWaker.Reason.scan);
        Await.until("the scan's wake", WAIT, () -> w.wakes("g") == 1);
        w.request("s", "g", GroupWaker.Reason.push);
        w.request("s", "g", GroupWaker.Reason.push);
        w.request("s", "g", GroupWaker.Reason.scan);
        Await.until("the fresh publish's wake after the debounce", WAIT, () -> w.wakes("g") == 2);
        awaitQuiet(w);
        Await.until("the listener saw both", WAIT, () -> heard.size() == 2);
        assertEquals(List.of(new WakeSocket.Wake("s", "g", true), new WakeSocket.Wake("s", "g", false)), heard);

        // Once the consumer was told of a fresh publish, a burst inside the debounce is one wake again.
        w.request("s", "g", GroupWaker.Reason.push);
        awaitQuiet(w);
        assertEquals(2, w.wakes("g"), "inside the debounce of the last wake, which was not a backlog's");
    }

    /**
     * The herd's wasted start: a scan that sees a group's backlog right after its consumer answered must not queue a
     * wake behind the other groups' (one JVM start under way here, the slot held by a consumer that hangs while it
     * starts), or that wake reaches the socket after the consumer left and starts a second JVM. The consumer that
     * answered takes what is waiting; a fresh publish still reaches it at once.
     */
    @Test void aScanRightAfterAConsumerAnsweredIsNoSecondStart() throws Exception {
        WakeSocket.Listener g = listen(dir.resolve("g.sock"));
        GroupWaker w = waker(Duration.ZERO, WAIT, 1);
        w.request("s", "g", GroupWaker.Reason.scan);
        Await.until("g's consumer answered", WAIT, () -> w.wakes("g") == 1);
        try (var silent = java.nio.channels.ServerSocketChannel.open(java.net.StandardProtocolFamily.UNIX)) {
            silent.bind(java.net.UnixDomainSocketAddress.of(dir.resolve("slow.sock")));
            w.request("s", "slow", GroupWaker.Reason.scan);
            Await.until("slow's wake holds the one slot", WAIT, () -> w.status().stream()
                .anyMatch(st -> st.group().equals("slow") && st.pending()));
            w.request("s", "g", GroupWaker.Reason.scan); // the next scan: g's backlog is not drained yet
            assertEquals(false, w.quiet().get(WAIT.toSeconds(), TimeUnit.SECONDS), "slow is still under way");
            GroupWaker.Status st = w.status().stream().filter(x -> x.group().equals("g")).findFirst().orElseThrow();
            assertEquals(false, st.pending(), "no wake for g waits for a slot");
            assertEquals(1, g.wakes(), "g's socket was connected to once: one JVM");
        }
        w.request("s", "g", GroupWaker.Reason.push);
        Await.until("a fresh publish's wake reaches g's consumer", WAIT, () -> g.wakes() == 2);
        assertEquals(2, w.wakes("g"));
    }

    @Test void aRefusedWakeIsRetriedUntilTheConsumerListensAgain() throws Exception {
        GroupWaker w = waker(Duration.ofMillis(200), WAIT, 4);
        Path path = dir.resolve("g.sock");
        WakeSocket.Listener.bind(path).close(); // the socket a consumer took along when it exited
        w.request("s", "g", GroupWaker.Reason.push);
        Await.until("the wake is refused", WAIT, () -> "refused".equals(w.state("g")));
        assertTrue(w.status().iterator().next().lastError().message().contains("(nothing listens there)"));
        Files.delete(path);
        WakeSocket.Listener l = listen(path); // systemd-socket-activate listens again
        Await.until("a retry reaches the new listener", WAIT, () -> l.wakes() == 1);
        Await.until("state ok", WAIT, () -> "ok".equals(w.state("g")));
        assertEquals(1, w.wakes("g"));
    }

    @Test void aSilentSocketTimesOutAndAnAnswerThatIsNotOkFails() throws Exception {
        GroupWaker w = waker(Duration.ZERO, Duration.ofMillis(300), 4);
        // Listening, never accepting nor answering: a consumer that hangs while it starts.
        try (var silent = java.nio.channels.ServerSocketChannel.open(java.net.StandardProtocolFamily.UNIX)) {
            silent.bind(java.net.UnixDomainSocketAddress.of(dir.resolve("slow.sock")));
            w.request("s", "slow", GroupWaker.Reason.scan);
            Await.until("the wake times out", WAIT, () -> "timeout".equals(w.state("slow")));
        }
        assertEquals(0, w.wakes("slow"));
    }

    /**
     * A thousand groups woken at once (a host back from maintenance): one wake loop thread whatever
     * the number, at most maxUnderWay wakes under way at once (the sockets answer after 100 ms, as a
     * consumer's start would, so the wakes overlap), and every group woken once.
     */
    @Test void aThousandGroupsWokenAtOnceAreOneThreadAndAtMostMaxUnderWay() throws Exception {
        List<String> groups = new ArrayList<>();
        for (int i = 0; i < 1000; i++) groups.add("g" + i);
        WakeSockets sockets = new WakeSockets(dir, groups, Duration.ofMillis(100));
        closing.add(sockets);
        GroupWaker w = waker(Duration.ofMinutes(10), WAIT, 32);
        long[] peak = {0};
        for (String g : groups) w.request("s", g, GroupWaker.Reason.push);
        Await.until("every group woken", WAIT, () -> {
            peak[0] = Math.max(peak[0], wakeThreads());
            return groups.stream().allMatch(g -> w.wakes(g) == 1);
        });
        assertEquals(1000, sockets.wakes(), "each group once");
        assertTrue(sockets.maxOpen() <= 32, "at most 32 wakes under way at once: " + sockets.maxOpen());
        assertTrue(sockets.maxOpen() > 1, "they overlap: " + sockets.maxOpen());
        assertEquals(1, peak[0], "threads of the wake loop while a thousand were woken");
    }

    /**
     * The wakeup's wake threads in this JVM (the loop is "wakeup-wake"; the pool it replaced named its threads so too).
     */
    static long wakeThreads() {
        return Thread.getAllStackTraces().keySet().stream().filter(t -> t.getName().startsWith("wakeup-wake")).count();
    }
}
