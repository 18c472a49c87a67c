import static org.junit.jupiter.api.Assertions.assertNull;

import activation.WakeSocket;
import cli.Cli;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * wakeup.java in this JVM with its socket dir in a temp dir: started for a test to watch (scans and
 * push), or run to its exit code. Close it after the test: every wakeup and listener is stopped.
 */
final class WakeupRun implements AutoCloseable {
    final Path sockets;
    private final List<wakeup> running = new ArrayList<>();
    private final List<Thread> threads = new ArrayList<>();
    private final List<WakeSocket.Listener> listeners = new ArrayList<>();

    WakeupRun() throws IOException {
        sockets = Files.createTempDirectory("mq-wake-"); // short: unix socket paths have 108 bytes
    }

    private String[] withSocketDir(String... args) {
        List<String> all = new ArrayList<>(List.of("--socket-dir", sockets.toString()));
        all.addAll(List.of(args));
        return all.toArray(String[]::new);
    }

    /** Started (first scan at once, push following); stopped by close(). */
    wakeup start(String... args) {
        wakeup w = new wakeup();
        Cli.commandLine(w).parseArgs(withSocketDir(args));
        w.start();
        running.add(w);
        return w;
    }

    /** The whole run, as main() would: returns its exit code, failing the test past {@code bound}. */
    int runToExit(wakeup w, Duration bound, String... args) throws InterruptedException {
        int[] code = {-1};
        Thread t = new Thread(() -> code[0] = Cli.run(w, withSocketDir(args)), "wakeup-under-test");
        t.setDaemon(true);
        threads.add(t);
        running.add(w);
        t.start();
        t.join(bound.toMillis());
        if (t.isAlive()) throw new AssertionError("wakeup did not exit within " + bound.toMillis() + " ms; failure: "
            + w.failure());
        return code[0];
    }

    /**
     * Both of the wakeup's paths to {@code sa}, which has messages waiting on {@code stream}: its first
     * scan wakes it, push then follows the stream, and one more message wakes it again; no failure.
     */
    static void assertScanThenPushWake(NsqFixture nsq, String stream, WakeSocket.Listener sa, wakeup w,
            Duration bound) throws Exception {
        Await.until("the first scan wakes " + stream + "'s group", bound, () -> sa.wakes() == 1);
        Await.until("push follows " + stream, bound, () -> nsq.channel(stream, wakeup.OWN_CHANNEL) != null
            && nsq.channel(stream, wakeup.OWN_CHANNEL).clientCount() == 1);
        nsq.publish(stream, List.of("more"));
        Await.until("the pushed message wakes the group again", bound, () -> sa.wakes() == 2);
        assertNull(w.failure());
    }

    /** A group's socket, as systemd would listen on it: counts its wakes. */
    WakeSocket.Listener listen(String group) throws IOException {
        WakeSocket.Listener l = WakeSocket.Listener.bind(sockets.resolve(group + ".sock"));
        l.start(wake -> { });
        listeners.add(l);
        return l;
    }

    @Override
    public void close() throws Exception {
        for (Thread t : threads) {
            t.interrupt(); // a call() still waiting for its stop signal ends
            t.join(15_000);
        }
        for (wakeup w : running) w.stop();
        for (WakeSocket.Listener l : listeners) l.close();
        TestCerts.delete(sockets);
    }
}
