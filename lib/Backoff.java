import java.time.Duration;
import java.util.concurrent.ThreadLocalRandom;

/** Capped exponential backoff with jitter: initial, 2x, 4x ... up to max; reset on success. */
final class Backoff {
    private final long initialMs, maxMs;
    private int attempt;

    Backoff(Duration initial, Duration max) {
        this.initialMs = Math.max(1, initial.toMillis());
        this.maxMs = Math.max(initialMs, max.toMillis());
    }

    /** The delay for the n-th failure (1-based), without jitter. */
    Duration delay(int failures) {
        long ms = initialMs << Math.min(Math.max(failures - 1, 0), 30);
        return Duration.ofMillis(ms <= 0 || ms > maxMs ? maxMs : ms);
    }

    /** The next delay, with up to 20% jitter so many clients do not retry in step. */
    Duration next() {
        long ms = delay(++attempt).toMillis();
        return Duration.ofMillis(ms - ThreadLocalRandom.current().nextLong(ms / 5 + 1));
    }

    void reset() { attempt = 0; }

    int failures() { return attempt; }

    /** Parses --backoff INITIAL/MAX (e.g. 1s/2m) for requeue delays; MAX at most nsqd's --max-req-timeout default (1h). */
    static Backoff parse(String spec) {
        String[] parts = spec.split("/");
        Cli.require(parts.length == 2, "--backoff '%s': expected INITIAL/MAX, e.g. 1s/2m", spec);
        Duration initial, max;
        try {
            initial = Cli.parseDuration(parts[0]);
            max = Cli.parseDuration(parts[1]);
        } catch (RuntimeException e) {
            throw new Cli.UsageException("--backoff '" + spec + "': " + e.getMessage());
        }
        Cli.require(!initial.isZero() && initial.compareTo(max) <= 0 && max.compareTo(Duration.ofHours(1)) <= 0,
            "--backoff '%s': INITIAL must be more than 0 and at most MAX, MAX at most 1h (nsqd's --max-req-timeout)", spec);
        return new Backoff(initial, max);
    }
}
