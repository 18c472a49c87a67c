package util;

import java.net.UnknownHostException;

/** Failures as one line for a log or an error message. */
public final class Errors {
    private Errors() {}

    /** The message with its causes' messages; an unknown host says so (Java reports just the name). */
    public static String oneLine(Throwable ex) {
        StringBuilder sb = new StringBuilder(String.valueOf(ex.getMessage() != null ? ex.getMessage()
            : ex.getClass().getSimpleName()));
        for (Throwable c = ex.getCause(); c != null && c != ex; c = c.getCause()) {
            String m = c.getMessage() != null ? c.getMessage() : c.getClass().getSimpleName();
            if (!sb.toString().contains(m)) sb.append(": ").append(m);
        }
        for (Throwable c = ex; c != null; c = c.getCause()) {
            if (c instanceof UnknownHostException) return sb.append(" (unknown host)").toString();
        }
        return sb.toString();
    }
}
