import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import activation.WakeSocket;
import java.io.FileDescriptor;
import java.io.FileInputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.newsclub.net.unix.AFUNIXServerSocket;
import org.newsclub.net.unix.AFUNIXServerSocketChannel;
import org.newsclub.net.unix.AFUNIXSocket;
import org.newsclub.net.unix.AFUNIXSocketAddress;
import org.newsclub.net.unix.FileDescriptorCast;

/**
 * lib/WakeSocket: the wake protocol, garbage and silent clients, restart after stop, systemd's socket left listening.
 */
@Tag("unit")
class WakeSocketTest {
    private Path dir, path;
    private WakeSocket.Listener listener;
    private final List<WakeSocket.Wake> woken = new CopyOnWriteArrayList<>();

    @BeforeEach void bind() throws IOException {
        dir = Files.createTempDirectory("mqueue-wake-");
        path = dir.resolve("g.sock");
        listener = WakeSocket.Listener.bind(path);
        listener.start(woken::add);
    }

    @AfterEach void close() throws IOException {
        listener.close();
        Files.deleteIfExists(path);
        Files.deleteIfExists(dir);
    }

    @Test void activationNeedsOurPidAndFds() {
        assertTrue(WakeSocket.activated(Map.of("LISTEN_PID", "42", "LISTEN_FDS", "1"), 42));
        assertFalse(WakeSocket.activated(Map.of("LISTEN_PID", "41", "LISTEN_FDS", "1"), 42));
        assertFalse(WakeSocket.activated(Map.of("LISTEN_PID", "42", "LISTEN_FDS", "0"), 42));
        assertFalse(WakeSocket.activated(Map.of(), 42));
    }

    @Test void parsesOnlyWakeLines() {
        assertEquals(new WakeSocket.Wake("s", "g"), WakeSocket.parse("wake s g"));
        assertNull(WakeSocket.parse("wake s"));
        assertNull(WakeSocket.parse("wake s g extra"));
        assertNull(WakeSocket.parse("WAKE s g"));
        assertNull(WakeSocket.parse("wake s/x g"));
    }

    /** A wake for messages that were waiting says "backlog" (the consumer may leave sooner); nothing else follows. */
    @Test void aBacklogWakeSaysSo() {
        WakeSocket.Wake backlog = new WakeSocket.Wake("s", "g", true);
        assertEquals("wake s g backlog", backlog.line());
        assertEquals(backlog, WakeSocket.parse(backlog.line()));
        assertFalse(WakeSocket.parse("wake s g").backlog(), "a fresh publish's wake is the line it always was");
        assertNull(WakeSocket.parse("wake s g backlog more"));
    }

    @Test void wakeIsAnsweredAndCounted() throws Exception {
        Duration rtt = WakeSocket.wake(path, new WakeSocket.Wake("s", "g"), Duration.ofSeconds(2));
        assertTrue(rtt.toMillis() < 2000);
        assertEquals(1, listener.wakes(), "counted before the client got its ok");
        Await.until("the callback saw the wake", Duration.ofSeconds(2), () -> woken.size() == 1);
        assertEquals(new WakeSocket.Wake("s", "g"), woken.get(0));
    }

    @Test void garbageAndSilentClientsDoNotStallIt() throws Exception {
        try (AFUNIXSocket silent = AFUNIXSocket.connectTo(AFUNIXSocketAddress.of(path));
             AFUNIXSocket garbage = AFUNIXSocket.connectTo(AFUNIXSocketAddress.of(path))) {
            garbage.setSoTimeout(3000);
            byte[] mb = new byte[1 << 20];
            java.util.Arrays.fill(mb, (byte) 'x');
            try {
                garbage.getOutputStream().write(mb);
            } catch (IOException closedEarly) {
                // expected: the listener reads 256 bytes and closes; the write then fails
                assertTrue(closedEarly.getMessage() != null);
            }
            // A real wake still gets through while both are connected.
            WakeSocket.wake(path, new WakeSocket.Wake("s", "g"), Duration.ofSeconds(2));
            assertEquals(1, listener.wakes());
            Await.until("both bad clients rejected", Duration.ofSeconds(5), () -> listener.rejected() >= 2);
        }
    }

    /**
     * The case: 40 clients send "wake " and stay silent. With a deadline far longer than the
     * test (so only the pool's shedding can help), a real wake still gets its ok, every time: the
     * oldest silent connection makes room, never the newest.
     */
    @Test void fortySilentClientsCannotCrowdOutAWake() throws Exception {
        Path flooded = dir.resolve("f.sock");
        List<AFUNIXSocket> silent = new java.util.ArrayList<>();
        WakeSocket.Listener l = WakeSocket.Listener.bind(flooded, Duration.ofMinutes(5), WakeSocket.Listener.MAX_OPEN);
        try {
            l.start(w -> {});
            for (int round = 1; round <= 3; round++) {
                for (int i = 0; i < 40; i++) {
                    AFUNIXSocket s = AFUNIXSocket.connectTo(AFUNIXSocketAddress.of(flooded));
                    s.getOutputStream().write("wake ".getBytes(java.nio.charset.StandardCharsets.US_ASCII));
                    silent.add(s);
                }
                WakeSocket.wake(flooded, new WakeSocket.Wake("s", "g"), Duration.ofSeconds(10));
                assertEquals(round, l.wakes(), "round " + round + ": the wake was answered");
            }
            assertTrue(l.shed() >= 3 * 40 - WakeSocket.Listener.MAX_OPEN, "the silent ones were shed: " + l.shed());
        } finally {
            for (AFUNIXSocket s : silent) s.close(); // first: stop() waits for connections still being read
            l.close();
            Files.deleteIfExists(flooded);
        }
    }

    /** The deadline is for the whole line, not per read: a byte every 200 ms does not keep a connection. */
    @Test void aClientTricklingItsLineIsDroppedAtTheDeadline() throws Exception {
        try (AFUNIXSocket slow = AFUNIXSocket.connectTo(AFUNIXSocketAddress.of(path))) {
            slow.setSoTimeout(10_000);
            long start = System.nanoTime();
            boolean closed = false;
            for (int i = 0; i < 100 && !closed; i++) {
                try {
                    slow.getOutputStream().write('w');
                    Thread.sleep(200); // the client's pace, not synchronisation
                } catch (IOException dropped) {
                    closed = true;
                }
            }
            assertTrue(closed, "dropped before its 100th byte");
            assertTrue(System.nanoTime() - start >= WakeSocket.CLIENT_TIMEOUT.toNanos(), "not before the deadline");
            Await.until("counted as rejected", Duration.ofSeconds(5), () -> listener.rejected() == 1);
        }
    }

    @Test void stopLeavesTheSocketAndStartResumes() throws Exception {
        listener.stop();
        assertTrue(Files.exists(path), "socket file kept");
        listener.start(woken::add);
        WakeSocket.wake(path, new WakeSocket.Wake("s", "g"), Duration.ofSeconds(2));
        assertEquals(1, listener.wakes());
    }

    /**
     * systemd keeps its own copy of the socket it passes (here: {@code systemd}, and the listener gets a
     * duplicate, as fd 3 is): stopping and closing ours leaves that copy listening and the file in place,
     * so systemd sees no POLLHUP and starts the service again for the next connection (issue 19).
     */
    @Test void anAdoptedSocketStillListensAfterStopAndClose() throws Exception {
        Path sd = dir.resolve("sd.sock");
        try (AFUNIXServerSocketChannel systemd = AFUNIXServerSocketChannel.open()) {
            systemd.bind(AFUNIXSocketAddress.of(sd));
            int fd = FileDescriptorCast.duplicating(systemd.getFileDescriptor()).as(Integer.class);
            try {
                WakeSocket.Listener ours = WakeSocket.Listener.adopt(fd);
                ours.start(woken::add);
                WakeSocket.wake(sd, new WakeSocket.Wake("s", "g"), Duration.ofSeconds(5));
                assertEquals(1, ours.wakes());
                ours.stop();
                ours.start(woken::add); // a wake while it decided to exit: it keeps running
                WakeSocket.wake(sd, new WakeSocket.Wake("s", "g"), Duration.ofSeconds(5));
                assertEquals(2, ours.wakes());
                ours.close();
                assertTrue(Files.exists(sd), "the socket file is systemd's: kept");
                assertSystemdAccepts(systemd, sd);
            } finally {
                // the process exit's close(2)
                new FileInputStream(FileDescriptorCast.unsafeUsing(fd).as(FileDescriptor.class)).close();
            }
            assertSystemdAccepts(systemd, sd);
        }
    }

    /** A connection to {@code path} reaches systemd's copy: it is listening, not shut down. */
    private static void assertSystemdAccepts(AFUNIXServerSocketChannel systemd, Path path) throws IOException {
        try (AFUNIXSocket client = AFUNIXSocket.connectTo(AFUNIXSocketAddress.of(path))) {
            systemd.configureBlocking(true);
            try (var accepted = systemd.accept()) {
                assertTrue(accepted != null && accepted.isConnected(), "systemd's copy accepted the connection");
            }
        }
    }

    /**
     * Why the listener never closes an adopted socket: junixsocket's close() calls shutdown(2), even with
     * setShutdownOnClose(false), and a shut-down listening socket refuses every copy's connections (systemd
     * sees POLLHUP and fails the .socket unit). If this ever fails, junixsocket changed: re-check issue 19.
     */
    @Test void junixsocketsCloseShutsDownEveryCopy() throws Exception {
        Path sd = dir.resolve("sd.sock");
        try (AFUNIXServerSocketChannel systemd = AFUNIXServerSocketChannel.open()) {
            systemd.bind(AFUNIXSocketAddress.of(sd));
            AFUNIXServerSocket copy = FileDescriptorCast.duplicating(systemd.getFileDescriptor())
                .as(AFUNIXServerSocket.class);
            copy.setShutdownOnClose(false);
            copy.setDeleteOnClose(false);
            copy.close();
            assertThrows(IOException.class, () -> AFUNIXSocket.connectTo(AFUNIXSocketAddress.of(sd)).close(),
                "connections to the shared socket are refused after junixsocket closed one copy");
        }
    }

    @Test void wakeWithoutListenerFailsClearly() throws Exception {
        listener.close();
        Files.delete(path);
        var e = assertThrows(IOException.class, () -> WakeSocket.wake(path, new WakeSocket.Wake("s", "g"),
            Duration.ofSeconds(1)));
        assertTrue(e.getMessage() != null);
        listener = WakeSocket.Listener.bind(path); // for @AfterEach
    }
}
