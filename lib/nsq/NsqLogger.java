package nsq;

/**
 * Where the client's log lines go (go-nsq's logger): the application plugs in its own; the
 * default writes "level: message" to stderr. Lines are whole sentences without a trailing newline.
 */
@FunctionalInterface
public interface NsqLogger {
    enum Level { DEBUG, INFO, WARN, ERROR }

    void log(Level level, String message);

    default void debug(String message) { log(Level.DEBUG, message); }
    default void info(String message) { log(Level.INFO, message); }
    default void warn(String message) { log(Level.WARN, message); }
    default void error(String message) { log(Level.ERROR, message); }

    /** INFO and above on stderr. */
    NsqLogger STDERR = (level, message) -> {
        if (level != Level.DEBUG) System.err.println(level.name().toLowerCase(java.util.Locale.ROOT) + ": " + message);
    };
}
