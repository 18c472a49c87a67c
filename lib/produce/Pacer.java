package produce;

import cli.Cli;
import java.time.Duration;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

/**
 * Producer pacing without drift: a thread's k-th message (from 0) is due at start + k * period,
 * so a late message is followed by a prompt one, never by a pause. Period 0 means unpaced (as
 * fast as nsqd acknowledges). Also ends the run at its --duration deadline.
 */
public final class Pacer {
    private static final long SLEEP_SLICE_NS = 50_000_000L; // wake up now and then to notice a stop

    final long periodNs;
    private final long startNs, deadlineNs;

    public Pacer(long periodNs, long startNs, Duration duration) {
        this.periodNs = periodNs;
        this.startNs = startNs;
        this.deadlineNs = duration == null ? Long.MAX_VALUE : startNs + duration.toNanos();
    }

    /**
     * The period per thread: --rate wins (spread over the threads; 'max' unpaced), then --interval,
     * then 0 for stdin and 1 s for generated events.
     */
    public static long periodNanos(String rate, Duration interval, int threads, boolean fromStdin) {
        double perSecond = parseRate(rate);
        if (perSecond > 0) return Math.round(threads * 1e9 / perSecond);
        if (perSecond < 0) return 0;
        return interval != null ? interval.toNanos() : fromStdin ? 0 : 1_000_000_000L;
    }

    /** "max" is -1, a number of messages per second is itself, unset is 0. */
    public static double parseRate(String text) {
        if (text == null || text.isBlank()) return 0;
        if (text.trim().equalsIgnoreCase("max")) return -1;
        try {
            double r = Double.parseDouble(text.trim());
            if (r > 0 && Double.isFinite(r)) return r;
        } catch (NumberFormatException notANumber) {
            // falls through to the usage error below, which names the value
        }
        throw new Cli.UsageException("--rate '" + text
            + "': must be a positive number of messages per second, or 'max'");
    }

    public boolean paced() { return periodNs > 0; }

    public boolean pastDeadline() { return System.nanoTime() >= deadlineNs; }

    /** Nanoseconds until the --duration deadline (Long.MAX_VALUE without one), 0 once past it. */
    public long nanosToDeadline() { return deadlineNs == Long.MAX_VALUE ? Long.MAX_VALUE : Math.max(0, deadlineNs
        - System.nanoTime()); }

    /** For the start-up line: the rate all threads together aim at. */
    public String describe(int threads) {
        return periodNs == 0 ? "as fast as acknowledged" : String.format(Locale.ROOT, "%.1f msg/s", threads * 1e9
            / periodNs);
    }

    /** Sleeps until message {@code k} is due; false when {@code stopped} or past the deadline first. */
    public boolean awaitTurn(long k, BooleanSupplier stopped) throws InterruptedException {
        long dueNs = startNs + k * periodNs;
        while (!stopped.getAsBoolean()) {
            long now = System.nanoTime();
            if (now >= deadlineNs) return false;
            long left = Math.min(dueNs, deadlineNs) - now;
            if (left <= 0) return true;
            TimeUnit.NANOSECONDS.sleep(Math.min(left, SLEEP_SLICE_NS));
        }
        return false;
    }
}
