package nsq;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * IDENTIFY's body (what this client asks for) and nsqd's answer (what it grants). Both are flat
 * JSON objects, written and read here by hand: IDENTIFY is on every consumer's start path, and
 * a JSON library's first use costs ~0.5 s of class loading there (measured: wake -> first message).
 */
public final class Identify {
    private Identify() {}

    /**
     * How long nsqd may hold messages it wrote to us in its output buffer (nsqd's default: 250 ms).
     * nsqd flushes that buffer only on its ticker, when it is full, or when we have no RDY left; with
     * RDY > 1 a lone message (a socket-activated consumer's backlog of one, a quiet stream) waited for
     * the ticker: a cold wake measured 230 ms from RDY to the message, 2-16 ms with 25 (nsqd's default
     * --min-output-buffer-timeout; an nsqd whose minimum was raised above it refuses the IDENTIFY).
     */
    public static final int OUTPUT_BUFFER_TIMEOUT_MS = 25;

    /** The fields of IDENTIFY for this config. */
    public static Map<String, Object> fields(NsqConfig c) {
        Map<String, Object> f = new LinkedHashMap<>();
        f.put("client_id", c.clientId());
        f.put("hostname", c.hostname());
        f.put("user_agent", c.userAgent());
        f.put("feature_negotiation", true);
        if (c.heartbeatInterval() != null) f.put("heartbeat_interval", c.heartbeatInterval().isZero() ? -1
            : c.heartbeatInterval().toMillis());
        if (c.msgTimeout() != null) f.put("msg_timeout", c.msgTimeout().toMillis());
        if (c.tls() != null) f.put("tls_v1", true);
        if (c.compression() != null) c.compression().ask(f);
        if (c.outputBufferTimeout() != null && c.outputBufferTimeout().isZero()) {
            // nsqd: no buffer, each message written at once (a timeout of -1 alone would hold them)
            f.put("output_buffer_size", -1);
        } else {
            if (c.outputBufferSize() != null) f.put("output_buffer_size", c.outputBufferSize());
            f.put("output_buffer_timeout", c.outputBufferTimeout() != null ? c.outputBufferTimeout().toMillis()
                : OUTPUT_BUFFER_TIMEOUT_MS);
        }
        return f;
    }

    /**
     * nsqd's answer; with feature negotiation it is JSON, else "OK" and nsqd's defaults apply.
     *
     * @param maxRdyCount   the most RDY nsqd accepts (its --max-rdy-count)
     * @param msgTimeout    how long nsqd waits for FIN/REQ/TOUCH of a message sent on this connection
     * @param maxMsgTimeout how long TOUCH can keep one message at most (its --max-msg-timeout)
     */
    public record Answer(long maxRdyCount, Duration msgTimeout, Duration maxMsgTimeout, boolean authRequired,
                         String version, Map<String, String> fields) {
        public static Answer parse(String text) {
            Map<String, String> f = text.startsWith("{") ? flatJson(text) : Map.of();
            return new Answer(number(f, "max_rdy_count", 2500), Duration.ofMillis(number(f, "msg_timeout", 60_000)),
                Duration.ofMillis(number(f, "max_msg_timeout", 900_000)), "true".equals(f.get("auth_required")),
                f.getOrDefault("version", "unknown"), f);
        }

        public boolean flag(String field) { return "true".equals(fields.get(field)); }

        private static long number(Map<String, String> f, String field, long otherwise) {
            try {
                return f.containsKey(field) ? Long.parseLong(f.get(field)) : otherwise;
            } catch (NumberFormatException notANumber) {
                return otherwise;
            }
        }
    }

    /** A flat JSON object of strings, numbers and booleans. */
    public static byte[] json(Map<String, Object> fields) {
        StringBuilder sb = new StringBuilder("{");
        for (Map.Entry<String, Object> e : fields.entrySet()) {
            if (sb.length() > 1) sb.append(',');
            quote(sb, e.getKey()).append(':');
            Object v = e.getValue();
            if (v instanceof Number || v instanceof Boolean) sb.append(v);
            else quote(sb, String.valueOf(v));
        }
        return sb.append('}').toString().getBytes(StandardCharsets.UTF_8);
    }

    private static final Pattern FIELD =
        Pattern.compile("\"([A-Za-z0-9_]+)\"\\s*:\\s*(\"((?:[^\"\\\\]|\\\\.)*)\"|-?[0-9.eE+-]+|true|false|null)");

    /** The top-level fields of a flat JSON object, values as text (strings unescaped for \" and \\ only). */
    public static Map<String, String> flatJson(String text) {
        Map<String, String> out = new LinkedHashMap<>();
        Matcher m = FIELD.matcher(text);
        while (m.find()) {
            String v = m.group(3) != null ? m.group(3).replace("\\\"", "\"").replace("\\\\", "\\") : m.group(2);
            out.putIfAbsent(m.group(1), v);
        }
        return out;
    }

    private static StringBuilder quote(StringBuilder sb, String s) {
        sb.append('"');
        for (char c : s.toCharArray()) {
            if (c == '"' || c == '\\') sb.append('\\').append(c);
            else if (c < 0x20) sb.append(String.format("\\u%04x", (int) c));
            else sb.append(c);
        }
        return sb.append('"');
    }
}
