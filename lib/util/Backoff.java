package util;

import java.time.Duration;
import java.util.concurrent.ThreadLocalRandom;

/** Capped exponential backoff with jitter: initial, 2x, 4x ... up to max; reset on success. */
public final class Backoff {
    private final long initialMs, maxMs;
    private int attempt;

    public Backoff(Duration initial, Duration max) {
        this.initialMs = Math.max(1, initial.toMillis());
        this.maxMs = Math.max(initialMs, max.toMillis());
    }

    /** The delay for the n-th failure (1-based), without jitter. */
    public Duration delay(int failures) {
        long ms = initialMs << Math.min(Math.max(failures - 1, 0), 30);
        return Duration.ofMillis(ms <= 0 || ms > maxMs ? maxMs : ms);
    }

    /** The next delay, with up to 20% jitter so many clients do not retry in step. */
    public Duration next() {
        long ms = delay(++attempt).toMillis();
        return Duration.ofMillis(ms - ThreadLocalRandom.current().nextLong(ms / 5 + 1));
    }

    public void reset() { attempt = 0; }

    public int failures() { return attempt; }
}
