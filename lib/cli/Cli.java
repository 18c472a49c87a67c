package cli;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import nsq.HostPort;
import nsq.NsqException;
import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.ParseResult;
import util.Errors;

/**
 * Runs a picocli command the way every mqueue tool does: exit 0 ok, 1 runtime failure,
 * 2 bad usage, and every error is one line on stderr that names the value and the rule.
 * Every line a tool writes to stderr passes {@link #escape} (here and in {@link Log}): a value
 * echoed from the command line, the environment or a peer cannot break the line in two or
 * drive the terminal.
 */
public final class Cli {
    public static final int OK = 0, FAILURE = 1, USAGE = 2;
    private static final Pattern ENV = Pattern.compile("\\$\\{env:([A-Za-z_][A-Za-z0-9_]*)");

    private Cli() {}

    /**
     * Builds the command line with mqueue's converters and error handlers. {@code command}: an annotated object, or a
     * spec built in code; an annotated command (or subcommand) that is also {@link DeclaredOptions} gets those after
     * its own.
     */
    public static CommandLine commandLine(Object command) {
        CommandLine cl = new CommandLine(command, FACTORY);
        declare(cl);
        Converters.register(cl);
        cl.setParameterExceptionHandler((ex, args) -> {
            String name = ex.getCommandLine().getCommandName();
            ex.getCommandLine().getErr().println(Log.journalPrefix(Log.Level.ERROR) + escape(name + ": "
                + ex.getMessage()));
            ex.getCommandLine().getErr().println("Try '" + name + " --help' for more information.");
            return USAGE;
        });
        cl.setExecutionStrategy(parsed -> {
            requireValues(parsed);
            return new CommandLine.RunLast().execute(parsed);
        });
        cl.setExecutionExceptionHandler((ex, c, parsed) -> {
            if (ex instanceof UsageException) {
                c.getErr().println(Log.journalPrefix(Log.Level.ERROR) + escape(c.getCommandName() + ": "
                    + ex.getMessage()));
                return USAGE;
            }
            // A fatal NSQ error is one line naming the peer and its words; anything else keeps its causes.
            NsqException nsq = NsqException.fatalCause(ex);
            Log.error("%s", nsq != null ? nsq.getMessage() : Errors.oneLine(ex));
            if (Log.isDebug()) ex.printStackTrace();
            return FAILURE;
        });
        return cl;
    }

    /**
     * What picocli instantiates: the lists a declared option fills here, anything else (an annotated command's
     * converters and mixins) by picocli's default factory. That one's class initialization looks for Groovy on the
     * class path, a ClassNotFoundException that took ~8 ms of every consumer start (issue 24).
     */
    public static final CommandLine.IFactory FACTORY = new CommandLine.IFactory() {
        @Override
        public <K> K create(Class<K> type) throws Exception {
            if (type == List.class || type == Collection.class) return type.cast(new ArrayList<>());
            return CommandLine.defaultFactory().create(type);
        }
    };

    private static void declare(CommandLine cl) {
        CommandSpec spec = cl.getCommandSpec();
        if (!(spec.userObject() instanceof CommandSpec) && spec.userObject() instanceof DeclaredOptions declared) {
            boolean help = spec.mixinStandardHelpOptions();
            spec.mixinStandardHelpOptions(false); // -h and -V stay last
            declared.declare(spec);
            spec.mixinStandardHelpOptions(help);
        }
        for (CommandLine sub : cl.getSubcommands().values()) declare(sub);
    }

    /** Runs and returns the exit code (for in-process tests). */
    public static int run(Object command, String... args) {
        return commandLine(command).execute(args);
    }

    /**
     * A list option that was given (on the command line or through its environment variable) but
     * holds nothing: {@code --nsqd ','} would otherwise run with no nsqd at all, and an empty
     * {@code --lookupd} would quietly mean "not given". Checked for every tool before it runs.
     */
    static void requireValues(ParseResult parsed) {
        if (parsed.isUsageHelpRequested() || parsed.isVersionHelpRequested()) return;
        CommandSpec spec = parsed.commandSpec();
        for (OptionSpec o : spec.options()) {
            if (!(o.getValue() instanceof Collection<?> values) || !values.isEmpty()) continue;
            String given;
            if (parsed.hasMatchedOption(o)) {
                String typed = parsed.originalArgs().stream().flatMap(arg -> Arrays.stream(o.names())
                    .filter(n -> arg.equals(n) || arg.startsWith(n + "="))).findFirst().orElse(o.names()[0]);
                given = typed + " " + quote(String.join(" ", o.originalStringValues()));
            } else {
                Matcher env = ENV.matcher(String.valueOf(o.defaultValueString()));
                given = o.names()[0] + " (" + (env.find() ? "env " + env.group(1) + "=" : "default ")
                    + quote(o.defaultValue()) + ")";
            }
            boolean addresses = o.auxiliaryTypes().length > 0 && o.auxiliaryTypes()[0] == HostPort.class;
            throw new CommandLine.ParameterException(spec.commandLine(), given + (addresses ? ": no address in it; "
                + HostPort.RULE
                : ": no value in it; give at least one") + ", comma-separated for several");
        }
    }

    /** Thrown from a command's business logic for input that breaks a rule: exit 2. */
    public static final class UsageException extends RuntimeException {
        public UsageException(String message) { super(message); }
    }

    /** Fails with exit 2 unless {@code ok}. */
    public static void require(boolean ok, String message, Object... args) {
        if (!ok) throw new UsageException(String.format(Locale.ROOT, message, args));
    }

    /** A value for an error line: in single quotes, its control characters escaped (null stays null). */
    public static String quote(Object value) {
        return value == null ? "null" : "'" + escape(String.valueOf(value)) + "'";
    }

    /**
     * {@code text} with control and format characters written as escapes: \n, \r, \t, \e, else
     * \xHH or \\uHHHH (C0 and C1 controls, DEL, bidi and zero-width marks, line separators).
     * Printable text, non-ASCII letters included, is left as it is.
     */
    public static String escape(String text) {
        StringBuilder sb = null;
        for (int i = 0; i < text.length(); i++) {
            char ch = text.charAt(i);
            int type = Character.getType(ch);
            boolean escape = type == Character.CONTROL || type == Character.FORMAT || type == Character.LINE_SEPARATOR
                || type == Character.PARAGRAPH_SEPARATOR || type == Character.SURROGATE && !validSurrogate(text, i);
            if (!escape) {
                if (sb != null) sb.append(ch);
                continue;
            }
            if (sb == null) sb = new StringBuilder(text.length() + 8).append(text, 0, i);
            switch (ch) {
                case '\n' -> sb.append("\\n");
                case '\r' -> sb.append("\\r");
                case '\t' -> sb.append("\\t");
                case 0x1b -> sb.append("\\e");
                default -> sb.append(ch < 0x100 ? String.format(Locale.ROOT, "\\x%02x", (int) ch)
                    : String.format(Locale.ROOT, "\\u%04x", (int) ch));
            }
        }
        return sb == null ? text : sb.toString();
    }

    /** A surrogate that is half of a well-formed pair (an emoji) is text; a lone one is not. */
    private static boolean validSurrogate(String s, int i) {
        char c = s.charAt(i);
        if (Character.isHighSurrogate(c)) return i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1));
        return i > 0 && Character.isHighSurrogate(s.charAt(i - 1));
    }
}
