package cli;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;
import java.util.TimeZone;
import nsq.NsqLogger;
import util.Threads;

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

    /**
     * The local zone for timestamps, read at the first (none in the journal, which stamps lines itself), through
     * TimeZone: java.time's LocalTime.now() reads the zone rules a second time (~7 ms of a cold start).
     */
    private static final class Zone {
        static final TimeZone LOCAL = TimeZone.getDefault();

        static void load() { }
    }
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
        // The time zone for the first line is read meanwhile, on the other core (~4 ms of a cold start).
        if (!JOURNAL) Threads.start("log-zone", Zone::load);
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
    public static NsqLogger nsq() { return NSQ; }

    /** A class, not a lambda: this one was not in the AOT cache (made at a static initializer's first use). */
    private static final NsqLogger NSQ = new NsqLogger() {
        @Override
        public void log(NsqLogger.Level level, String message) {
            switch (level) {
                case DEBUG -> { if (isDebug()) emit(Log.Level.DEBUG, message); }
                case INFO -> emit(Log.Level.INFO, message);
                case WARN -> emit(Log.Level.WARN, message);
                case ERROR -> emit(Log.Level.ERROR, message);
            }
        }

        @Override
        public boolean debugEnabled() { return isDebug(); }
    };

    /**
     * String.format(Locale.ROOT, fmt, args), with %s, %d of an int or long and %% done here: the first %d through
     * java.util.Formatter loads the locale's digits, ~7 ms of a consumer's cold start (issue 24). Anything else
     * (a width, %x, %.1f, a missing or an extra argument) goes to String.format as it is.
     */
    public static String fmt(String fmt, Object... args) {
        if (args.length == 0) return fmt;
        StringBuilder sb = new StringBuilder(fmt.length() + 16 * args.length);
        int next = 0;
        for (int i = 0; i < fmt.length(); i++) {
            char c = fmt.charAt(i);
            if (c != '%') {
                sb.append(c);
                continue;
            }
            char conversion = i + 1 < fmt.length() ? fmt.charAt(i + 1) : 0;
            if (conversion == '%') {
                sb.append('%');
            } else if (next < args.length && (conversion == 's' && !(args[next] instanceof java.util.Formattable)
                || conversion == 'd' && (args[next] instanceof Integer || args[next] instanceof Long))) {
                sb.append(args[next++]);
            } else {
                return String.format(Locale.ROOT, fmt, args);
            }
            i++;
        }
        return next == args.length ? sb.toString() : String.format(Locale.ROOT, fmt, args);
    }

    /** "12:00:00.000" in the local time zone. */
    public static String time(long epochMillis) {
        int ms = (int) Math.floorMod(epochMillis + Zone.LOCAL.getOffset(epochMillis), 86_400_000L);
        char[] t = {'0', '0', ':', '0', '0', ':', '0', '0', '.', '0', '0', '0'};
        int h = ms / 3_600_000, m = ms / 60_000 % 60, sec = ms / 1000 % 60, milli = ms % 1000;
        t[0] += (char) (h / 10);
        t[1] += (char) (h % 10);
        t[3] += (char) (m / 10);
        t[4] += (char) (m % 10);
        t[6] += (char) (sec / 10);
        t[7] += (char) (sec % 10);
        t[9] += (char) (milli / 100);
        t[10] += (char) (milli / 10 % 10);
        t[11] += (char) (milli % 10);
        return new String(t);
    }

    /** One log line: "<4>warning: ..." for the journal, "12:00:00.000 consumer warning: ..." on a terminal. */
    public static String line(Level level, String message, boolean journal) {
        String tag = level == Level.ERROR ? "error: " : level == Level.WARN ? "warning: " : "";
        if (journal) return "<" + priority(level) + ">" + tag + message;
        return time(System.currentTimeMillis()) + " " + scope().tool() + " " + tag + message;
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
