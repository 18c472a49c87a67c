package cli;

import java.time.Duration;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import nsq.HostPort;
import nsq.Names;
import picocli.CommandLine;
import util.Durations;

/** picocli converters for mqueue's value types, so a bad value fails at parse time with exit 2 and one line. */
public final class Converters {
    private Converters() {}

    static void register(CommandLine cl) {
        cl.registerConverter(Duration.class, Converters::duration);
        cl.registerConverter(HostPort.class, text -> {
            try {
                return HostPort.parse(text);
            } catch (IllegalArgumentException e) {
                throw new CommandLine.TypeConversionException(e.getMessage());
            }
        });
    }

    private static final Pattern DURATION = Pattern.compile("(\\d+(?:\\.\\d+)?)(ms|s|m|h)?");

    /**
     * No duration option of mqueue means more than this. Beyond it a typo ("99999999999h") would
     * overflow the nanosecond clock into "at once" or "never" instead of failing; each option has
     * its own, tighter bound on top ({@link #requireDuration}).
     */
    public static final Duration MAX_DURATION = Duration.ofDays(365);

    /** "250ms", "1.5s", "2m", "1h"; a bare number means seconds, as in TIMEOUT=30. At most {@link #MAX_DURATION}. */
    public static Duration duration(String text) {
        Matcher m = DURATION.matcher(text.trim().toLowerCase(Locale.ROOT));
        if (!m.matches()) {
            throw new CommandLine.TypeConversionException(
                "'" + text + "' is not a duration: use a number with ms, s, m or h (a bare number is seconds)");
        }
        double n = Double.parseDouble(m.group(1));
        String unit = m.group(2) == null ? "s" : m.group(2);
        double millis = switch (unit) {
            case "ms" -> n;
            case "s" -> n * 1_000;
            case "m" -> n * 60_000;
            default -> n * 3_600_000;
        };
        if (!(millis <= MAX_DURATION.toMillis())) {
            throw new CommandLine.TypeConversionException("'" + text + "' is too long: no duration may exceed "
                + Durations.format(MAX_DURATION) + " (365 days)");
        }
        return Duration.ofNanos(Math.round(millis * 1_000_000));
    }

    /**
     * Fails with exit 2 unless {@code min <= value <= max}; the line names the option, the value and
     * the range, and {@code why} the range when it is not obvious ("" for none).
     */
    public static void requireDuration(String option, Duration value, Duration min, Duration max, String why) {
        if (value == null || value.compareTo(min) >= 0 && value.compareTo(max) <= 0) return;
        throw new Cli.UsageException(String.format(Locale.ROOT, "%s %s: must be %s to %s%s", option,
            Durations.format(value),
            Durations.format(min), Durations.format(max), why.isEmpty() ? "" : " (" + why + ")"));
    }

    /** The same for counts and sizes. */
    public static void requireRange(String option, long value, long min, long max, String why) {
        if (value >= min && value <= max) return;
        throw new Cli.UsageException(String.format(Locale.ROOT, "%s %d: must be %d to %d%s", option, value, min, max,
            why.isEmpty() ? "" : " (" + why + ")"));
    }

    /** A stream (NSQ topic) name, checked at parse time. */
    public static final class Stream implements CommandLine.ITypeConverter<String> {
        public String convert(String value) { return name("stream", value); }
    }

    /** A group (NSQ channel) name, checked at parse time. */
    public static final class Group implements CommandLine.ITypeConverter<String> {
        public String convert(String value) { return name("group", value); }
    }

    private static String name(String kind, String value) {
        try {
            return Names.check(kind, value);
        } catch (IllegalArgumentException e) {
            throw new CommandLine.TypeConversionException(e.getMessage());
        }
    }
}
