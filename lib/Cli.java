//DEPS info.picocli:picocli:4.7.7

import java.time.Duration;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import picocli.CommandLine;
import picocli.CommandLine.ParameterException;

/**
 * Runs a picocli command the way every mqueue tool does: exit 0 ok, 1 runtime failure,
 * 2 bad usage, and every error is one line on stderr that names the value and the rule.
 */
final class Cli {
    static final int OK = 0, FAILURE = 1, USAGE = 2;

    private Cli() {}

    /** Builds the command line with mqueue's converters and error handlers. */
    static CommandLine commandLine(Object command) {
        CommandLine cl = new CommandLine(command);
        cl.registerConverter(Duration.class, Cli::parseDuration);
        cl.registerConverter(HostPort.class, HostPort::parse);
        cl.setParameterExceptionHandler((ex, args) -> {
            String name = ex.getCommandLine().getCommandName();
            ex.getCommandLine().getErr().println(name + ": " + ex.getMessage());
            ex.getCommandLine().getErr().println("Try '" + name + " --help' for more information.");
            return USAGE;
        });
        cl.setExecutionExceptionHandler((ex, c, parsed) -> {
            if (ex instanceof UsageException) {
                c.getErr().println(c.getCommandName() + ": " + ex.getMessage());
                return USAGE;
            }
            Log.error("%s", describe(ex));
            if (Log.isDebug()) ex.printStackTrace();
            return FAILURE;
        });
        return cl;
    }

    /** Runs and returns the exit code (for in-process tests). */
    static int run(Object command, String... args) {
        return commandLine(command).execute(args);
    }

    /** A failure's message with its cause, on one line. */
    static String describe(Throwable ex) {
        StringBuilder sb = new StringBuilder(String.valueOf(ex.getMessage() != null ? ex.getMessage() : ex.getClass().getSimpleName()));
        for (Throwable c = ex.getCause(); c != null && c != ex; c = c.getCause()) {
            if (c.getMessage() != null && !sb.toString().contains(c.getMessage())) sb.append(": ").append(c.getMessage());
        }
        return sb.toString();
    }

    /** Thrown from a command's business logic for input that breaks a rule: exit 2. */
    static final class UsageException extends RuntimeException {
        UsageException(String message) { super(message); }
    }

    /** Fails with exit 2 unless {@code ok}. */
    static void require(boolean ok, String message, Object... args) {
        if (!ok) throw new UsageException(String.format(Locale.ROOT, message, args));
    }

    private static final Pattern DURATION = Pattern.compile("(\\d+(?:\\.\\d+)?)(ms|s|m|h)?");

    /** "250ms", "1.5s", "2m", "1h"; a bare number means seconds, as in TIMEOUT=30. */
    static Duration parseDuration(String text) {
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

    /** "1.5s", "250ms", "2m0s": how a duration reads in logs. */
    static String format(Duration d) {
        long ms = d.toMillis();
        if (ms < 1_000) return ms + "ms";
        if (ms < 60_000) return (ms % 1000 == 0 ? String.valueOf(ms / 1000) : String.format(Locale.ROOT, "%.1f", ms / 1000.0)) + "s";
        return (ms / 60_000) + "m" + ((ms % 60_000) / 1000) + "s";
    }

    /** For mixins that validate after parsing. */
    static ParameterException usage(CommandLine cl, String message) {
        return new ParameterException(cl, message);
    }
}
