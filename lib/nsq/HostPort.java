package nsq;

import java.util.ArrayList;
import java.util.List;

/** A host:port address as NSQ's tools take it ("127.0.0.1:4150", "[::1]:4150", "nsqd:4150"). */
public record HostPort(String host, int port) {
    public static final String RULE = "expected HOST:PORT with a port from 1 to 65535";

    /** Parses one address; IllegalArgumentException naming the value and the rule. */
    public static HostPort parse(String text) {
        String t = text.trim();
        int colon = t.lastIndexOf(':');
        if (colon <= 0 || colon == t.length() - 1) throw invalid(text);
        String host = t.substring(0, colon);
        if (host.startsWith("[") && host.endsWith("]")) host = host.substring(1, host.length() - 1);
        if (host.isEmpty() || host.contains(":") && !t.startsWith("[")) throw invalid(text);
        int port;
        try {
            port = Integer.parseInt(t.substring(colon + 1));
        } catch (NumberFormatException e) {
            throw invalid(text);
        }
        if (port < 1 || port > 65535) throw invalid(text);
        return new HostPort(host, port);
    }

    /** Comma- or space-separated addresses, as in NSQD_TCP_ADDRESS="a:4150,b:4150"; at least one. */
    public static List<HostPort> parseList(String text) {
        List<HostPort> out = new ArrayList<>();
        for (String part : text.split("[,\\s]+")) if (!part.isBlank()) out.add(parse(part));
        if (out.isEmpty()) throw new IllegalArgumentException("no address in '" + text + "': " + RULE);
        return out;
    }

    private static IllegalArgumentException invalid(String text) {
        return new IllegalArgumentException("invalid address '" + text + "': " + RULE);
    }

    /** By hand, as toString: a record's own are bootstrapped at their first call, a cold start's cost (issue 24). */
    @Override
    public boolean equals(Object o) { return o instanceof HostPort h && port == h.port && host.equals(h.host); }

    @Override
    public int hashCode() { return host.hashCode() * 31 + port; }

    /** The authority form for URLs and logs. */
    @Override
    public String toString() {
        return (host.contains(":") ? "[" + host + "]" : host) + ":" + port;
    }
}
