package cli;

import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.IntSupplier;
import java.util.function.Supplier;
import util.Durations;

/**
 * A main() for a command that drains before it exits: SIGTERM/SIGINT take the same path as the
 * command's own stop(). The JVM's shutdown hook asks it to stop, waits (bounded) until call()
 * returned, then ends the JVM with call()'s exit code (0 after a clean drain) instead of the
 * signal's 143/130.
 */
public final class DrainOnSignal {
    private DrainOnSignal() {}

    /** {@code maxWait}: how long the hook waits for the drain, read when the signal comes. */
    public static void main(Object command, Runnable stop, Supplier<Duration> maxWait, String... args) {
        main(command, stop, maxWait, () -> Log.warn("drain did not end within %s", Durations.format(maxWait.get())),
            args);
    }

    /** As above; {@code gaveUp} says what was left undone when the drain outlasted {@code maxWait} (exit 1). */
    public static void main(Object command, Runnable stop, Supplier<Duration> maxWait, Runnable gaveUp,
            String... args) {
        run(() -> Cli.run(command, args), stop, maxWait, gaveUp);
    }

    /**
     * The same for any {@code body} that returns an exit code (lib/Nsq.java's consumer builds its command itself); ends
     * the JVM.
     */
    public static void run(IntSupplier body, Runnable stop, Supplier<Duration> maxWait, Runnable gaveUp) {
        CountDownLatch done = new CountDownLatch(1);
        AtomicInteger code = new AtomicInteger(Cli.FAILURE);
        Thread hook = new Thread(() -> {
            if (done.getCount() > 0) Log.info("stopping: draining what is in flight");
            stop.run();
            try {
                Duration wait = maxWait.get();
                if (!done.await(wait.toMillis(), TimeUnit.MILLISECONDS)) gaveUp.run();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            System.err.flush();
            Runtime.getRuntime().halt(done.getCount() == 0 ? code.get() : Cli.FAILURE);
        }, "drain-on-signal");
        Runtime.getRuntime().addShutdownHook(hook);
        code.set(body.getAsInt());
        done.countDown();
        try {
            Runtime.getRuntime().removeShutdownHook(hook);
        } catch (IllegalStateException signalled) {
            return; // the hook is running and ends the JVM with our code
        }
        System.exit(code.get());
    }
}
