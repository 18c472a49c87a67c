package nsq;

import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;

/**
 * One frame from nsqd (go-nsq's protocol.go): 4-byte size, 4-byte type, data. Reading refuses
 * what nsqd never sends, so a peer that is not nsqd is named as such within one read instead of
 * being taken for a 1.2 GB frame ("HTTP" read as a size is 1,213,486,160).
 *
 * <p>A message frame is read in two parts, so its body lands in an array of its own and is never
 * copied again: {@code data} is the 26-byte message header (timestamp, attempts, id) and
 * {@code body} the body. For other frames {@code body} is null.
 */
public record Frame(int type, byte[] data, byte[] body) {
    public static final int RESPONSE = 0, ERROR = 1, MESSAGE = 2;
    /** A message's header before its body: 8-byte timestamp (ns), 2-byte attempts, 16-byte ASCII id. */
    public static final int MESSAGE_HEADER = 26;

    public Frame(int type, byte[] data) { this(type, data, null); }
    private static final String HEARTBEAT = "_heartbeat_";
    /** Up to this size a frame is allocated at once; a larger one grows as its bytes arrive, so a lying size costs nothing. */
    private static final int TRUSTED_SIZE = 16 << 20;

    public String text() { return new String(data, StandardCharsets.UTF_8); }

    public boolean isHeartbeat() { return type == RESPONSE && HEARTBEAT.equals(text()); }

    /** Reads the next frame; {@code limit} is the largest data size this peer may send now. */
    public static Frame read(DataInputStream in, int limit, HostPort peer) throws IOException {
        // readFully, not readInt: one call into the (synchronized) buffered stream instead of four.
        byte[] head = new byte[4];
        try {
            in.readFully(head);
        } catch (EOFException e) {
            throw new EOFException("nsqd " + peer + " closed the connection");
        }
        int size = toInt(head);
        if (size == ('H' << 24 | 'T' << 16 | 'T' << 8 | 'P')) {
            throw new NsqException.NotNsqd(peer, "it answered HTTP (\"HTTP" + restOfLine(in) + "\"); nsqd's TCP port is 4150 by default, 4151 is its HTTP port");
        }
        if (size < 4 || size - 4 > limit) {
            throw new NsqException.NotNsqd(peer, "it sent a frame of " + Integer.toUnsignedString(size) + " bytes (at most "
                + (limit + 4) + " expected now" + printable(size) + ")");
        }
        in.readFully(head);
        int type = toInt(head);
        if (type != RESPONSE && type != ERROR && type != MESSAGE) {
            throw new NsqException.NotNsqd(peer, "it sent a frame of unknown type " + type);
        }
        if (type != MESSAGE) return new Frame(type, readData(in, size - 4));
        if (size - 4 < MESSAGE_HEADER) throw new NsqException.NotNsqd(peer, "it sent a message frame of " + (size - 4) + " bytes, shorter than a message header");
        byte[] header = new byte[MESSAGE_HEADER];
        in.readFully(header);
        return new Frame(type, header, readData(in, size - 4 - MESSAGE_HEADER));
    }

    private static int toInt(byte[] b) {
        return (b[0] & 0xff) << 24 | (b[1] & 0xff) << 16 | (b[2] & 0xff) << 8 | (b[3] & 0xff);
    }

    private static byte[] readData(DataInputStream in, int n) throws IOException {
        if (n <= TRUSTED_SIZE) {
            byte[] data = new byte[n];
            in.readFully(data);
            return data;
        }
        ByteArrayOutputStream grown = new ByteArrayOutputStream(TRUSTED_SIZE);
        byte[] chunk = new byte[64 * 1024];
        for (int left = n; left > 0; ) {
            int r = in.read(chunk, 0, Math.min(chunk.length, left));
            if (r < 0) throw new EOFException("connection closed in the middle of a frame of " + n + " bytes");
            grown.write(chunk, 0, r);
            left -= r;
        }
        return grown.toByteArray();
    }

    /** The status line's rest ("/1.1 400 Bad Request"), as far as it arrives at once. */
    private static String restOfLine(DataInputStream in) {
        StringBuilder sb = new StringBuilder();
        try {
            for (int b; sb.length() < 60 && in.available() > 0 && (b = in.read()) >= 0 && b != '\r' && b != '\n'; ) sb.append((char) b);
        } catch (IOException e) {
            sb.append("...");
        }
        return sb.toString();
    }

    /** When the 4 "size" bytes are text, the peer speaks a text protocol: show them. */
    private static String printable(int size) {
        byte[] b = {(byte) (size >>> 24), (byte) (size >>> 16), (byte) (size >>> 8), (byte) size};
        for (byte c : b) if (c < 0x20 || c > 0x7e) return "";
        return "; it starts with the text \"" + new String(b, StandardCharsets.US_ASCII) + "\"";
    }
}
