import java.io.PrintStream;
import java.time.LocalTime;
import java.time.format.DateTimeFormatter;
import java.util.Locale;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogManager;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

/**
 * Logs go to stderr only (stdout carries data). Under systemd (JOURNAL_STREAM set) each line
 * starts with an sd-daemon priority so {@code journalctl -p warning} works. Libraries that log
 * through java.util.logging take the same path.
 */
final class Log {
    private static final DateTimeFormatter TIME = DateTimeFormatter.ofPattern("HH:mm:ss.SSS");
    private static volatile String tool = "mqueue";
    private static volatile boolean debug;
    private static volatile PrintStream out = System.err;
    private static final boolean JOURNAL = System.getenv("JOURNAL_STREAM") != null;

    private Log() {}

    /** Names the tool in every line and routes java.util.logging's warnings (the JDK's) through here. */
    static synchronized void init(String toolName, boolean verbose) {
        tool = toolName;
        debug = verbose;
        LogManager.getLogManager().reset();
        Logger root = Logger.getLogger("");
        // Only the JDK logs through java.util.logging here; its FINE lines would drown ours under -v.
        root.setLevel(Level.WARNING);
        root.addHandler(new Handler() {
            @Override public void publish(LogRecord r) {
                if (!isLoggable(r)) return;
                String msg = r.getMessage();
                if (r.getParameters() != null && r.getParameters().length > 0) {
                    msg = java.text.MessageFormat.format(msg, r.getParameters());
                }
                if (r.getThrown() != null) msg += ": " + Cli.describe(r.getThrown());
                emit(r.getLevel(), r.getLoggerName() + ": " + msg);
            }
            @Override public void flush() {}
            @Override public void close() {}
        });
    }

    static boolean isDebug() { return debug; }

    static void debug(String fmt, Object... args) { if (debug) emit(Level.FINE, fmt(fmt, args)); }
    static void info(String fmt, Object... args) { emit(Level.INFO, fmt(fmt, args)); }
    static void warn(String fmt, Object... args) { emit(Level.WARNING, fmt(fmt, args)); }
    static void error(String fmt, Object... args) { emit(Level.SEVERE, fmt(fmt, args)); }

    private static String fmt(String fmt, Object... args) {
        return args.length == 0 ? fmt : String.format(Locale.ROOT, fmt, args);
    }

    /** One log line: "<4>warning: ..." for the journal, "12:00:00.000 consumer warning: ..." on a terminal. */
    static String line(Level level, String message, boolean journal) {
        String tag = level.intValue() >= Level.SEVERE.intValue() ? "error: "
            : level.intValue() >= Level.WARNING.intValue() ? "warning: " : "";
        if (journal) return "<" + priority(level) + ">" + tag + message;
        return LocalTime.now().format(TIME) + " " + tool + " " + tag + message;
    }

    static int priority(Level level) {
        if (level.intValue() >= Level.SEVERE.intValue()) return 3;
        if (level.intValue() >= Level.WARNING.intValue()) return 4;
        if (level.intValue() >= Level.INFO.intValue()) return 6;
        return 7;
    }

    private static void emit(Level level, String message) {
        out.println(line(level, message, JOURNAL));
    }
}
