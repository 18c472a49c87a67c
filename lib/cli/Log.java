package cli;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalTime;
import java.time.format.DateTimeFormatter;
import java.util.Locale;
import java.util.Map;
import nsq.NsqLogger;

/**
 * Logs go to stderr only (stdout carries data). When stderr is the journal (JOURNAL_STREAM names its
 * device and inode) each line starts with an sd-daemon priority so {@code journalctl -p warning}
 * shows warnings and errors only; the unit's SyslogIdentifier= names the role and group. The NSQ client logs
 * through {@link #nsq()}. The tool's name and -v belong to the thread that called {@link #init}
 * and every thread it starts (an inheritable thread-local), so tools run side by side in one JVM,
 * as the tests run them, each log under their own name; other threads use the last init's.
 */
public final class Log {
    public enum Level { DEBUG, INFO, WARN, ERROR }

    private static final DateTimeFormatter TIME = DateTimeFormatter.ofPattern("HH:mm:ss.SSS");
    private static final boolean JOURNAL = stderrIsJournal(System.getenv("JOURNAL_STREAM"), Path.of("/proc/self/fd/2"));
    private record Scope(String tool, boolean debug) {}
    private static volatile Scope last = new Scope("mqueue", false);
    private static final InheritableThreadLocal<Scope> SCOPE = new InheritableThreadLocal<>();
    private static volatile PrintStream out = System.err;

    private Log() {}

    /** Names the tool in every line of this thread and the threads it starts; {@code verbose} shows debug lines. */
    public static void init(String toolName, boolean verbose) {
        Scope s = new Scope(toolName, verbose);
        SCOPE.set(s);
        last = s;
    }

    private static Scope scope() {
        Scope s = SCOPE.get();
        return s != null ? s : last;
    }

    public static boolean isDebug() { return scope().debug(); }

    public static void debug(String fmt, Object... args) { if (isDebug()) emit(Level.DEBUG, fmt(fmt, args)); }
    public static void info(String fmt, Object... args) { emit(Level.INFO, fmt(fmt, args)); }
    public static void warn(String fmt, Object... args) { emit(Level.WARN, fmt(fmt, args)); }
    public static void error(String fmt, Object... args) { emit(Level.ERROR, fmt(fmt, args)); }

    /** The NSQ client's lines, in this log. */
    public static NsqLogger nsq() {
        return (level, message) -> {
            switch (level) {
                case DEBUG -> { if (isDebug()) emit(Level.DEBUG, message); }
                case INFO -> emit(Level.INFO, message);
                case WARN -> emit(Level.WARN, message);
                case ERROR -> emit(Level.ERROR, message);
            }
        };
    }

    private static String fmt(String fmt, Object... args) {
        return args.length == 0 ? fmt : String.format(Locale.ROOT, fmt, args);
    }

    /** One log line: "<4>warning: ..." for the journal, "12:00:00.000 consumer warning: ..." on a terminal. */
    public static String line(Level level, String message, boolean journal) {
        String tag = level == Level.ERROR ? "error: " : level == Level.WARN ? "warning: " : "";
        if (journal) return "<" + priority(level) + ">" + tag + message;
        return LocalTime.now().format(TIME) + " " + scope().tool() + " " + tag + message;
    }

    /**
     * True when {@code stderr} is the stream JOURNAL_STREAM ("DEV:INODE", systemd.exec(5)) names. A child
     * inherits the variable even when its stderr goes to a file or a terminal; there the prefix
     * would only be noise. Where stderr cannot be looked at, the variable alone decides.
     */
    public static boolean stderrIsJournal(String journalStream, Path stderr) {
        if (journalStream == null) return false;
        String[] devIno = journalStream.split(":");
        try {
            Map<String, Object> a = Files.readAttributes(stderr, "unix:dev,ino");
            return devIno.length == 2 && Long.parseLong(devIno[0]) == (Long) a.get("dev")
                && Long.parseLong(devIno[1]) == (Long) a.get("ino");
        } catch (NumberFormatException malformed) {
            return false;
        } catch (IOException | UnsupportedOperationException | IllegalArgumentException | SecurityException unknown) {
            return true;
        }
    }

    /**
     * "<3>" and so on when stderr is the journal, else "": for the lines written without {@link #line} (usage errors).
     */
    public static String journalPrefix(Level level) { return JOURNAL ? "<" + priority(level) + ">" : ""; }

    /** sd-daemon(3) priorities: err 3, warning 4, info 6, debug 7. */
    public static int priority(Level level) {
        return switch (level) {
            case ERROR -> 3;
            case WARN -> 4;
            case INFO -> 6;
            case DEBUG -> 7;
        };
    }

    /** Every line escaped (Cli.escape): a value from input or a peer cannot split it or reach the terminal raw. */
    private static void emit(Level level, String message) {
        out.println(line(level, Cli.escape(message), JOURNAL));
    }
}
