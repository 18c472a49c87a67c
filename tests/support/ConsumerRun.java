import cli.Cli;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.function.Consumer;

/** consumer.java running in this JVM on its own thread, its stdout captured: a test can stop it and read its counts. */
final class ConsumerRun {
    final consumer c = new consumer();
    final ByteArrayOutputStream out = new ByteArrayOutputStream();
    final Thread thread;
    final long started = System.nanoTime();
    volatile Integer code;
    volatile long endedNanos;

    ConsumerRun(String... args) { this(c -> { }, args); }

    /** {@code setup} runs before the consumer starts (inject a wake listener, ...). */
    ConsumerRun(Consumer<consumer> setup, String... args) {
        c.out = out;
        setup.accept(c);
        thread = new Thread(() -> {
            code = Cli.run(c, args);
            endedNanos = System.nanoTime();
        }, "consumer-under-test");
        thread.setDaemon(true);
        thread.start();
    }

    /** What it printed, a line per message. */
    List<String> lines() {
        String s;
        synchronized (out) {
            s = out.toString(StandardCharsets.UTF_8);
        }
        return s.isEmpty() ? List.of() : Arrays.asList(s.split("\n"));
    }

    long received() { return c.messages == null ? 0 : c.messages.received(); }
    long finished() { return c.messages == null ? 0 : c.messages.finished(); }
    long requeued() { return c.messages == null ? 0 : c.messages.requeued(); }
    long deadLettered() { return c.messages == null ? 0 : c.messages.deadLettered(); }

    /** Waits for it to exit by itself; fails (after stopping it) past {@code timeout}. */
    int await(Duration timeout) throws InterruptedException {
        thread.join(timeout.toMillis());
        if (thread.isAlive()) {
            c.stop();
            thread.join(30_000);
            throw new AssertionError("consumer did not exit within " + timeout.toMillis() + " ms");
        }
        return code;
    }

    /** stop() (the SIGTERM path), then its exit code. */
    int stop() throws InterruptedException {
        c.stop();
        return await(Duration.ofSeconds(30));
    }

    Duration ran() { return Duration.ofNanos(endedNanos - started); }
}
