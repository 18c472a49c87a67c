package cli;

import java.time.Duration;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import nsq.HostPort;
import nsq.Names;
import picocli.CommandLine;

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

    /** "250ms", "1.5s", "2m", "1h"; a bare number means seconds, as in TIMEOUT=30. */
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
        return Duration.ofNanos(Math.round(millis * 1_000_000));
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
