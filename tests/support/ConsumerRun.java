import activation.WakeSocket;
import consume.GroupRun;
import consume.MessageLifecycle;
import consume.SeqVerifier;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.function.Consumer;
import nsq.NsqException;

/**
 * consumer.java running in this JVM on its own thread through the front door (lib/Nsq.java), its stdout
 * captured: a test can stop it and read its counts.
 */
final class ConsumerRun {
    final consumer c = new consumer();
    final Nsq.Consumer front;
    final ByteArrayOutputStream out = new ByteArrayOutputStream();
    final Thread thread;
    final long started = System.nanoTime();
    volatile Integer code;
    volatile long endedNanos;

    ConsumerRun(String... args) { this(r -> { }, args); }

    /** {@code setup} runs before the consumer starts (inject a wake listener, another stdout, ...). */
    ConsumerRun(Consumer<ConsumerRun> setup, String... args) {
        c.out = out;
        front = c.frontDoor(args);
        setup.accept(this);
        thread = new Thread(() -> {
            code = front.run(c::handler);
            endedNanos = System.nanoTime();
        }, "consumer-under-test");
        thread.setDaemon(true);
        thread.start();
    }

    /** Wakes are accepted on {@code l} (instead of systemd's socket), which makes the run socket-activated. */
    void listener(WakeSocket.Listener l) { front.listener = l; }

    /** What it printed, a line per message. */
    List<String> lines() {
        String s;
        synchronized (out) {
            s = out.toString(StandardCharsets.UTF_8);
        }
        return s.isEmpty() ? List.of() : Arrays.asList(s.split("\n"));
    }

    /** The run, once its options are parsed (null before). */
    GroupRun run() { return front.current(); }

    MessageLifecycle messages() { return run() == null ? null : run().messages(); }

    SeqVerifier verifier() { return run().verifier(); }

    /** The idle timeout in force, once the options are checked (null before). */
    Duration idleTimeout() { return run() == null ? null : run().idleTimeout(); }

    /** What stopped it for good (nsqd refused us, a peer that is not nsqd); null if nothing did. */
    NsqException fatal() { return run() == null ? null : run().fatal(); }

    long received() { return messages() == null ? 0 : messages().received(); }
    long finished() { return messages() == null ? 0 : messages().finished(); }
    long requeued() { return messages() == null ? 0 : messages().requeued(); }
    long deadLettered() { return messages() == null ? 0 : messages().deadLettered(); }

    /** Waits for it to exit by itself; fails (after stopping it) past {@code timeout}. */
    int await(Duration timeout) throws InterruptedException {
        thread.join(timeout.toMillis());
        if (thread.isAlive()) {
            front.stop();
            thread.join(30_000);
            throw new AssertionError("consumer did not exit within " + timeout.toMillis() + " ms");
        }
        return code;
    }

    /** stop() (the SIGTERM path), then its exit code. */
    int stop() throws InterruptedException {
        front.stop();
        return await(Duration.ofSeconds(30));
    }

    Duration ran() { return Duration.ofNanos(endedNanos - started); }
}
