package nsq;

import java.io.DataOutputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * The message bodies of one publish (MPUB, or PUB/DPUB of one), written into the connection as
 * they are sent: a producer can generate them in place instead of making a byte[] per message
 * first, and a re-send after a lost connection writes the same bytes again.
 */
public interface Batch {
    /** Messages in it. */
    int size();

    /** The bodies' sizes added up. */
    long bytes();

    /** Body {@code i} as its own array: single PUB, DPUB, and the rare error paths. */
    byte[] body(int i);

    /** MPUB's messages: for each, a 4-byte big-endian size, then the body. */
    void writeTo(DataOutputStream out) throws IOException;

    default List<byte[]> toList() {
        List<byte[]> out = new ArrayList<>(size());
        for (int i = 0; i < size(); i++) out.add(body(i));
        return out;
    }

    /** Bodies that already exist (stdin lines, a dead letter). */
    static Batch of(List<byte[]> bodies) {
        return new Batch() {
            @Override public int size() { return bodies.size(); }

            @Override public long bytes() {
                long n = 0;
                for (byte[] b : bodies) n += b.length;
                return n;
            }

            @Override public byte[] body(int i) { return bodies.get(i); }

            @Override public List<byte[]> toList() { return bodies; }

            @Override public void writeTo(DataOutputStream out) throws IOException {
                for (byte[] b : bodies) {
                    out.writeInt(b.length);
                    out.write(b);
                }
            }
        };
    }
}
