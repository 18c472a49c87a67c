package nsq;

import java.nio.charset.StandardCharsets;
import java.util.function.Supplier;

/**
 * One frame from nsqd (go-nsq's protocol.go): 4-byte size, 4-byte type, data. What nsqd never
 * sends is refused at once, so a peer that is not nsqd is named as such instead of being taken
 * for a 1.2 GB frame ("HTTP" read as a size is 1,213,486,160). {@link FrameReader} reads them.
 *
 * <p>A message frame comes in two parts, so its body lands in an array of its own and is never
 * copied again: {@code data} is the 26-byte message header (timestamp, attempts, id) and
 * {@code body} the body. For other frames {@code body} is null.
 */
public record Frame(int type, byte[] data, byte[] body) {
    public static final int RESPONSE = 0, ERROR = 1, MESSAGE = 2;
    /** A message's header before its body: 8-byte timestamp (ns), 2-byte attempts, 16-byte ASCII id. */
    public static final int MESSAGE_HEADER = 26;

    private static final String HEARTBEAT = "_heartbeat_";

    public Frame(int type, byte[] data) { this(type, data, null); }

    /** Bytes it took on the wire, size and type included. */
    public int wireBytes() { return 8 + data.length + (body == null ? 0 : body.length); }

    public String text() { return new String(data, StandardCharsets.UTF_8); }

    public boolean isHeartbeat() { return type == RESPONSE && HEARTBEAT.equals(text()); }

    /** A size field nsqd could have sent now: at least its type, at most {@code limit} bytes of data. */
    static void checkSize(int size, int limit, HostPort peer, Supplier<String> restOfHttpLine) throws NsqException {
        if (size == ('H' << 24 | 'T' << 16 | 'T' << 8 | 'P')) {
            throw new NsqException.NotNsqd(peer, "it answered HTTP (\"HTTP" + restOfHttpLine.get()
                + "\"); nsqd's TCP port is 4150 by default, 4151 is its HTTP port");
        }
        if (size < 4 || size - 4 > limit) {
            throw new NsqException.NotNsqd(peer, "it sent a frame of " + Integer.toUnsignedString(size)
                + " bytes (at most "
                + (limit + 4) + " expected now" + printable(size) + ")");
        }
    }

    static void checkType(int type, HostPort peer) throws NsqException {
        if (type != RESPONSE && type != ERROR && type != MESSAGE) {
            throw new NsqException.NotNsqd(peer, "it sent a frame of unknown type " + type);
        }
    }

    static void checkMessage(int dataSize, HostPort peer) throws NsqException {
        if (dataSize < MESSAGE_HEADER) {
            throw new NsqException.NotNsqd(peer, "it sent a message frame of " + dataSize
                + " bytes, shorter than a message header");
        }
    }

    /** When the 4 "size" bytes are text, the peer speaks a text protocol: show them. */
    private static String printable(int size) {
        byte[] b = {(byte) (size >>> 24), (byte) (size >>> 16), (byte) (size >>> 8), (byte) size};
        for (byte c : b) if (c < 0x20 || c > 0x7e) return "";
        return "; it starts with the text \"" + new String(b, StandardCharsets.US_ASCII) + "\"";
    }
}
