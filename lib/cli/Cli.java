package cli;

import java.util.Locale;
import nsq.NsqException;
import picocli.CommandLine;
import util.Errors;

/**
 * Runs a picocli command the way every mqueue tool does: exit 0 ok, 1 runtime failure,
 * 2 bad usage, and every error is one line on stderr that names the value and the rule.
 */
public final class Cli {
    public static final int OK = 0, FAILURE = 1, USAGE = 2;

    private Cli() {}

    /** Builds the command line with mqueue's converters and error handlers. */
    public static CommandLine commandLine(Object command) {
        CommandLine cl = new CommandLine(command);
        Converters.register(cl);
        cl.setParameterExceptionHandler((ex, args) -> {
            String name = ex.getCommandLine().getCommandName();
            ex.getCommandLine().getErr().println(Log.journalPrefix(Log.Level.ERROR) + name + ": " + ex.getMessage());
            ex.getCommandLine().getErr().println("Try '" + name + " --help' for more information.");
            return USAGE;
        });
        cl.setExecutionExceptionHandler((ex, c, parsed) -> {
            if (ex instanceof UsageException) {
                c.getErr().println(Log.journalPrefix(Log.Level.ERROR) + c.getCommandName() + ": " + ex.getMessage());
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

    /** Runs and returns the exit code (for in-process tests). */
    public static int run(Object command, String... args) {
        return commandLine(command).execute(args);
    }

    /** Thrown from a command's business logic for input that breaks a rule: exit 2. */
    public static final class UsageException extends RuntimeException {
        public UsageException(String message) { super(message); }
    }

    /** Fails with exit 2 unless {@code ok}. */
    public static void require(boolean ok, String message, Object... args) {
        if (!ok) throw new UsageException(String.format(Locale.ROOT, message, args));
    }
}
