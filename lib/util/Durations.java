package util;

import java.time.Duration;
import java.util.Locale;

/** How a duration reads in logs and errors: "250ms", "1.5s", "2m0s", "3h0m". */
public final class Durations {
    private Durations() {}

    /**
     * Half of {@code d}, to the nanosecond. Not {@code d.dividedBy(2)}: that goes through BigDecimal, whose class
     * initialization cost a consumer's cold start ~10 ms (issue 24).
     */
    public static Duration half(Duration d) {
        return Duration.ofSeconds(d.getSeconds() / 2, d.getSeconds() % 2 * 500_000_000L + d.getNano() / 2);
    }

    public static String format(Duration d) {
        long ms = d.toMillis();
        if (ms < 1_000) return ms + "ms";
        if (ms < 60_000) return (ms % 1000 == 0 ? String.valueOf(ms / 1000) : String.format(Locale.ROOT, "%.1f", ms
            / 1000.0)) + "s";
        if (ms < 3_600_000) return (ms / 60_000) + "m" + ((ms % 60_000) / 1000) + "s";
        return (ms / 3_600_000) + "h" + ((ms % 3_600_000) / 60_000) + "m";
    }
}
