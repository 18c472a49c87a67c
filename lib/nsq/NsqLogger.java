package nsq;

/**
 * Where the client's log lines go (go-nsq's logger): the application plugs in its own; the
 * default writes "level: message" to stderr. Lines are whole sentences without a trailing newline.
 */
@FunctionalInterface
public interface NsqLogger {
    enum Level { DEBUG, INFO, WARN, ERROR }

    void log(Level level, String message);

    /**
     * Whether a debug line would be written: a line built only to be dropped costs a cold start its string
     * concatenation's bootstrap (a few ms per call site). True unless the logger says otherwise.
     */
    default boolean debugEnabled() { return true; }

    default void debug(String message) { log(Level.DEBUG, message); }
    default void info(String message) { log(Level.INFO, message); }
    default void warn(String message) { log(Level.WARN, message); }
    default void error(String message) { log(Level.ERROR, message); }

    /** INFO and above on stderr. A class, not a lambda: no AOT cache holds a lambda made in an interface's field. */
    NsqLogger STDERR = new NsqLogger() {
        @Override
        public void log(Level level, String message) {
            if (level != Level.DEBUG) System.err.println(level.name().toLowerCase(java.util.Locale.ROOT) + ": "
                + message);
        }

        @Override
        public boolean debugEnabled() { return false; }
    };
}
