import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.Closeable;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;

/**
 * One TCP connection to nsqd speaking protocol V2: the magic, IDENTIFY with feature negotiation,
 * and frames (size, type, data). Publishers and subscribers build their commands on top.
 * Writes are synchronized so several threads may send commands; frames are read by one thread.
 */
final class NsqConnection implements Closeable {
    static final int FRAME_RESPONSE = 0, FRAME_ERROR = 1, FRAME_MESSAGE = 2;
    static final String HEARTBEAT = "_heartbeat_";
    private static final byte[] MAGIC = "  V2".getBytes(StandardCharsets.US_ASCII);

    record Frame(int type, byte[] data) {
        String text() { return new String(data, StandardCharsets.UTF_8); }
    }

    private final HostPort address;
    private final Socket socket;
    private final DataInputStream in;
    private final DataOutputStream out;
    private final String identity;

    /**
     * Connects and identifies. {@code identify} adds to or overrides the defaults (client_id,
     * hostname, user_agent, feature_negotiation); a read timeout of zero waits forever.
     */
    NsqConnection(HostPort address, Duration connectTimeout, Duration readTimeout, Map<String, Object> identify)
            throws IOException {
        this.address = address;
        this.socket = new Socket();
        try {
            socket.setTcpNoDelay(true);
            socket.connect(new InetSocketAddress(address.host(), address.port()), (int) connectTimeout.toMillis());
            socket.setSoTimeout((int) connectTimeout.toMillis());
            in = new DataInputStream(new BufferedInputStream(socket.getInputStream(), 64 * 1024));
            out = new DataOutputStream(new BufferedOutputStream(socket.getOutputStream(), 64 * 1024));
            out.write(MAGIC);
            Map<String, Object> body = new HashMap<>(Map.of(
                "client_id", "mqueue-" + ProcessHandle.current().pid(),
                "hostname", hostname(),
                "user_agent", "mqueue/1.0",
                "feature_negotiation", true));
            body.putAll(identify);
            byte[] json = flatJson(body);
            synchronized (out) {
                out.write("IDENTIFY\n".getBytes(StandardCharsets.US_ASCII));
                out.writeInt(json.length);
                out.write(json);
                out.flush();
            }
            Frame answer = readResponse();
            identity = answer.text();
            socket.setSoTimeout((int) readTimeout.toMillis());
        } catch (IOException e) {
            socket.close();
            throw new IOException("cannot connect to nsqd " + address + ": " + Cli.describe(e), e);
        }
    }

    HostPort address() { return address; }

    /** The msg_timeout nsqd applies to this connection. */
    Duration msgTimeout() { return Duration.ofMillis(identityNumber("msg_timeout", 60_000)); }

    /** The most RDY nsqd allows (its --max-rdy-count). */
    long maxRdyCount() { return identityNumber("max_rdy_count", 2500); }

    // IDENTIFY is the one JSON on a consumer's start path, and Jackson's first use costs ~0.5 s of
    // class loading there (measured: wake -> first message), so these few flat fields are done by hand.
    private static final java.util.regex.Pattern NUMBER_FIELD = java.util.regex.Pattern.compile("\"([a-z_]+)\"\\s*:\\s*(-?\\d+)");

    /** A numeric field of nsqd's flat IDENTIFY answer; {@code otherwise} when absent (an "OK" answer). */
    long identityNumber(String field, long otherwise) {
        java.util.regex.Matcher m = NUMBER_FIELD.matcher(identity);
        while (m.find()) if (m.group(1).equals(field)) return Long.parseLong(m.group(2));
        return otherwise;
    }

    /** A flat JSON object of strings, numbers and booleans. */
    static byte[] flatJson(Map<String, Object> fields) {
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

    private static StringBuilder quote(StringBuilder sb, String s) {
        sb.append('"');
        for (char c : s.toCharArray()) {
            if (c == '"' || c == '\\') sb.append('\\').append(c);
            else if (c < 0x20) sb.append(String.format("\\u%04x", (int) c));
            else sb.append(c);
        }
        return sb.append('"');
    }

    /** The stream to write a command with a body; callers hold {@link #writeLock()} and flush. */
    DataOutputStream out() { return out; }

    Object writeLock() { return out; }

    /** Writes one command line and flushes it at once. */
    void send(String line) throws IOException {
        byte[] bytes = line.getBytes(StandardCharsets.US_ASCII);
        synchronized (out) {
            out.write(bytes);
            out.flush();
        }
    }

    /** Writes several command lines with one flush. */
    void send(Iterable<String> lines) throws IOException {
        synchronized (out) {
            for (String line : lines) out.write(line.getBytes(StandardCharsets.US_ASCII));
            out.flush();
        }
    }

    /** The next frame, whatever its type. */
    Frame readFrame() throws IOException {
        int size;
        try {
            size = in.readInt();
        } catch (EOFException e) {
            throw new EOFException("nsqd " + address + " closed the connection");
        }
        if (size < 4) throw new IOException("nsqd " + address + " sent a frame of size " + size);
        int type = in.readInt();
        byte[] data = new byte[size - 4];
        in.readFully(data);
        return new Frame(type, data);
    }

    /**
     * The next response frame, answering heartbeats on the way. Error frames are returned too
     * (callers decide); a message frame here is a protocol error.
     */
    Frame readResponse() throws IOException {
        while (true) {
            Frame f = readFrame();
            if (f.type() == FRAME_RESPONSE && HEARTBEAT.equals(f.text())) {
                send("NOP\n");
                continue;
            }
            if (f.type() == FRAME_MESSAGE) throw new IOException("nsqd " + address + " sent a message where a response was due");
            if (f.type() == FRAME_ERROR) throw new IOException("nsqd " + address + ": " + f.text());
            return f;
        }
    }

    boolean isClosed() { return socket.isClosed(); }

    /** Bytes that can be read without blocking (buffered or already received). */
    int available() throws IOException { return in.available(); }

    static String hostname() {
        String h = System.getenv("HOSTNAME");
        if (h != null && !h.isBlank()) return h;
        try {
            return java.net.InetAddress.getLocalHost().getHostName();
        } catch (IOException e) {
            Log.debug("no hostname (%s); nsqd will show 'localhost'", e.getMessage());
            return "localhost";
        }
    }

    /** Closes the socket without a CLS (callers that want a clean close send CLS first). */
    @Override
    public void close() throws IOException {
        socket.close();
    }
}
