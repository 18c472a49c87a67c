package nsq;

import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * NSQ's TCP commands (protocol V2), each encoded by one method (go-nsq's command.go): a line of
 * ASCII words ending in '\n', and for some a body of 4-byte big-endian size and bytes. Small
 * commands come back as bytes to write; commands with message bodies are streamed into the
 * connection's output so a large body is never copied.
 */
public final class Command {
    /** The first bytes on every connection. */
    public static final byte[] MAGIC_V2 = ascii("  V2");
    public static final byte[] NOP = ascii("NOP\n");
    public static final byte[] CLS = ascii("CLS\n");

    private Command() {}

    public static byte[] identify(byte[] json) { return withBody("IDENTIFY\n", json); }

    public static byte[] auth(byte[] secret) { return withBody("AUTH\n", secret); }

    public static byte[] sub(String topic, String channel) { return ascii("SUB " + topic + " " + channel + "\n"); }

    public static byte[] rdy(long count) { return ascii("RDY " + count + "\n"); }

    /** A message id is the 16 ASCII bytes nsqd sent with the message. */
    public static byte[] fin(byte[] id) { return withId(FIN, id, null); }

    public static byte[] req(byte[] id, long delayMs) { return withId(REQ, id, " " + delayMs); }

    public static byte[] touch(byte[] id) { return withId(TOUCH, id, null); }

    public static void pub(DataOutputStream out, String topic, byte[] body) throws IOException {
        out.write(ascii("PUB " + topic + "\n"));
        out.writeInt(body.length);
        out.write(body);
    }

    /** DPUB: nsqd refuses a delay over its --max-req-timeout. */
    public static void dpub(DataOutputStream out, String topic, long delayMs, byte[] body) throws IOException {
        out.write(ascii("DPUB " + topic + " " + delayMs + "\n"));
        out.writeInt(body.length);
        out.write(body);
    }

    /** MPUB's body: 4-byte count, then 4-byte size and bytes per message. */
    public static void mpub(DataOutputStream out, String topic, List<byte[]> bodies) throws IOException {
        mpub(out, topic, Batch.of(bodies));
    }

    /** MPUB of a batch whose messages are written as they go out (never gathered into one array first). */
    public static void mpub(DataOutputStream out, String topic, Batch batch) throws IOException {
        long size = mpubBodySize(batch);
        if (size > Integer.MAX_VALUE) throw new IllegalArgumentException("MPUB body of " + size
            + " bytes cannot be framed");
        out.write(ascii("MPUB " + topic + "\n"));
        out.writeInt((int) size);
        out.writeInt(batch.size());
        batch.writeTo(out);
    }

    /** The size of MPUB's body for these messages (nsqd compares it with --max-body-size). */
    public static long mpubBodySize(List<byte[]> bodies) { return mpubBodySize(Batch.of(bodies)); }

    public static long mpubBodySize(Batch batch) { return 4 + 4L * batch.size() + batch.bytes(); }

    private static byte[] withBody(String line, byte[] body) {
        ByteArrayOutputStream b = new ByteArrayOutputStream(line.length() + 4 + body.length);
        b.writeBytes(ascii(line));
        b.write(body.length >>> 24);
        b.write(body.length >>> 16);
        b.write(body.length >>> 8);
        b.write(body.length);
        b.writeBytes(body);
        return b.toByteArray();
    }

    private static final byte[] FIN = ascii("FIN "), REQ = ascii("REQ "), TOUCH = ascii("TOUCH ");

    private static byte[] withId(byte[] v, byte[] id, String rest) {
        int tail = rest == null ? 0 : rest.length();
        byte[] out = new byte[v.length + id.length + tail + 1];
        System.arraycopy(v, 0, out, 0, v.length);
        System.arraycopy(id, 0, out, v.length, id.length);
        // ASCII digits and a space
        for (int i = 0; i < tail; i++) out[v.length + id.length + i] = (byte) rest.charAt(i);
        out[out.length - 1] = '\n';
        return out;
    }

    private static byte[] ascii(String s) { return s.getBytes(StandardCharsets.US_ASCII); }
}
