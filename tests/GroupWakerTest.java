import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import activation.WakeSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import wake.GroupWaker;

/** GroupWaker against a WakeSocket.Listener in a temp dir: socket checks, debounce, state. No nsqd. */
@Tag("unit")
class GroupWakerTest {
    static final Duration WAIT = Duration.ofSeconds(30);
    private Path dir;
    private final ExecutorService wakers = Executors.newCachedThreadPool();
    private final ScheduledExecutorService retries = Executors.newSingleThreadScheduledExecutor();

    @BeforeEach void dir() throws Exception { dir = Files.createTempDirectory("mq-gw-"); }

    @AfterEach void cleanup() throws Exception {
        retries.shutdownNow();
        wakers.shutdownNow();
        wakers.awaitTermination(10, TimeUnit.SECONDS);
        try (var files = Files.list(dir)) {
            for (Path p : files.toList()) Files.deleteIfExists(p);
        }
        Files.deleteIfExists(dir);
    }

    @Test void onlyASocketIsSocketBacked() throws Exception {
        GroupWaker w = new GroupWaker(dir, Duration.ZERO, WAIT, wakers, retries);
        Files.writeString(dir.resolve("file.sock"), "x");
        Files.createDirectory(dir.resolve("dir.sock"));
        assertNull(w.state("none"), "never looked at");
        assertFalse(w.hasSocket("none"));
        assertEquals("no socket", w.state("none"));
        assertFalse(w.hasSocket("file"));
        assertEquals("not a socket", w.state("file"));
        assertFalse(w.hasSocket("dir"));
        assertEquals("not a socket", w.state("dir"));
        try (WakeSocket.Listener l = WakeSocket.Listener.bind(dir.resolve("g.sock"))) {
            assertTrue(w.hasSocket("g"));
        }
    }

    /** A G.sock symlink is refused, even to a real socket: whoever can plant it would get the wakes. */
    @Test void aSymlinkIsRefusedEvenToARealSocket() throws Exception {
        GroupWaker w = new GroupWaker(dir, Duration.ZERO, WAIT, wakers, retries);
        Path elsewhere = dir.resolve("elsewhere");
        try (WakeSocket.Listener l = WakeSocket.Listener.bind(elsewhere)) {
            l.start(wake -> {});
            Files.createSymbolicLink(dir.resolve("g.sock"), elsewhere);
            assertFalse(w.hasSocket("g"));
            assertEquals("symlink", w.state("g"));
            w.request("s", "g", GroupWaker.Reason.scan);
            wakers.shutdown();
            assertTrue(wakers.awaitTermination(10, TimeUnit.SECONDS), "the wake attempt ended");
            assertEquals(0, l.wakes(), "the socket behind the link was never woken");
        }
    }

    @Test void aBurstInsideTheDebounceIsOneWake() throws Exception {
        GroupWaker w = new GroupWaker(dir, Duration.ofMinutes(10), WAIT, wakers, retries);
        try (WakeSocket.Listener l = WakeSocket.Listener.bind(dir.resolve("g.sock"))) {
            l.start(wake -> {});
            for (int i = 0; i < 20; i++) w.request("s", "g", GroupWaker.Reason.push);
            Await.until("g is woken", WAIT, () -> w.wakes("g") == 1);
            assertEquals("ok", w.state("g"));
            w.request("s", "g", GroupWaker.Reason.scan);
            wakers.shutdown();
            assertTrue(wakers.awaitTermination(WAIT.toSeconds(), TimeUnit.SECONDS));
            assertEquals(1, l.wakes(), "one wake for the burst and the scan within --debounce");
        }
    }

    @Test void aRefusedWakeIsRetriedUntilTheConsumerListensAgain() throws Exception {
        GroupWaker w = new GroupWaker(dir, Duration.ofMillis(200), WAIT, wakers, retries);
        Path path = dir.resolve("g.sock");
        WakeSocket.Listener.bind(path).close(); // the socket a consumer took along when it exited
        w.request("s", "g", GroupWaker.Reason.push);
        Await.until("the wake is refused", WAIT, () -> "refused".equals(w.state("g")));
        Files.delete(path);
        try (WakeSocket.Listener l = WakeSocket.Listener.bind(path)) { // systemd-socket-activate listens again
            l.start(wake -> {});
            Await.until("a retry reaches the new listener", WAIT, () -> l.wakes() == 1);
            Await.until("state ok", WAIT, () -> "ok".equals(w.state("g")));
        }
        assertEquals(1, w.wakes("g"));
    }
}
