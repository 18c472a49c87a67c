package nsq;

import java.io.IOException;
import java.net.ConnectException;
import java.net.NoRouteToHostException;
import java.net.SocketTimeoutException;
import java.net.UnknownHostException;
import java.net.http.HttpTimeoutException;
import java.nio.channels.UnresolvedAddressException;
import util.Errors;

/**
 * A failure the NSQ client recognised, and whether retrying can fix it (go-nsq's fatal errors).
 * Fatal: nsqd refused us (E_INVALID, E_BAD_*, E_AUTH_*, E_UNAUTHORIZED, TLS refused) or the peer
 * answered what nsqd never sends. Only an answer proves that: everything else that goes wrong on the
 * network (refused, reset, silent or timed-out connections) is a plain IOException and transient.
 */
public class NsqException extends IOException {
    private final boolean fatal;

    public NsqException(String message, boolean fatal, Throwable cause) {
        super(message, cause);
        this.fatal = fatal;
    }

    /** True when the same request to the same peer can only fail again. */
    public boolean fatal() { return fatal; }

    /** nsqd answered with an error frame, e.g. "E_BAD_TOPIC PUB topic name 'x y' is not valid". */
    public static final class ErrorResponse extends NsqException {
        private final String code, text;

        public ErrorResponse(HostPort from, String text) {
            super("nsqd " + from + ": " + text + (text.endsWith("(TLS required)") ? ": it accepts only TLS connections"
                : ""),
                isFatal(codeOf(text)), null);
            this.text = text;
            this.code = codeOf(text);
        }

        public String code() { return code; }

        /** nsqd's words: code and explanation. */
        public String text() { return text; }

        private static String codeOf(String text) {
            int space = text.indexOf(' ');
            return space < 0 ? text : text.substring(0, space);
        }

        /**
         * E_FIN_FAILED and friends (the message had timed out) and E_*PUB_FAILED (nsqd is exiting or its disk failed)
         * are not fatal.
         */
        static boolean isFatal(String code) {
            return code.equals("E_INVALID") || code.startsWith("E_BAD_") || code.startsWith("E_AUTH")
                || code.equals("E_UNAUTHORIZED");
        }

        /** FIN, REQ or TOUCH of a message nsqd no longer holds for us: logged and survived. */
        public boolean staleMessage() {
            return code.equals("E_FIN_FAILED") || code.equals("E_REQ_FAILED") || code.equals("E_TOUCH_FAILED");
        }
    }

    /** The peer answered what nsqd never sends (HTTP, garbage, an impossible frame); silence is not proof of it. */
    public static final class NotNsqd extends NsqException {
        public NotNsqd(HostPort peer, String what) {
            super(peer + " is not nsqd's TCP port: " + what, true, null);
        }
    }

    /** True when {@code e} or a cause is a fatal NsqException. */
    public static boolean isFatal(Throwable e) {
        for (Throwable c = e; c != null; c = c.getCause()) if (c instanceof NsqException n && n.fatal()) return true;
        return false;
    }

    /** The fatal NsqException in {@code e}'s causes, or null. */
    public static NsqException fatalCause(Throwable e) {
        for (Throwable c = e; c != null; c = c.getCause()) if (c instanceof NsqException n && n.fatal()) return n;
        return null;
    }

    /**
     * True when nothing listens there now (connection refused, no route, unknown host), as opposed to
     * slowness: a timeout anywhere in the chain is slowness (the JDK's HTTP client wraps its connect
     * timeout in a ConnectException).
     */
    public static boolean isRefusal(Throwable e) {
        boolean refusal = false;
        for (Throwable c = e; c != null; c = c.getCause()) {
            if (c instanceof SocketTimeoutException || c instanceof HttpTimeoutException) return false;
            refusal |= c instanceof ConnectException || c instanceof UnknownHostException
                || c instanceof NoRouteToHostException
                || c instanceof UnresolvedAddressException;
        }
        return refusal;
    }

    /** A failure's message with its causes, on one line. */
    public static String describe(Throwable ex) { return Errors.oneLine(ex); }
}
