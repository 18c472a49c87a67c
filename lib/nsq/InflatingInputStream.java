package nsq;

import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.util.zip.DataFormatException;
import java.util.zip.Inflater;

/**
 * Raw deflate (nsqd's compress/flate) read from a socket. Unlike the JDK's InflaterInputStream,
 * {@link #available()} is exact: it counts only bytes that can be inflated without waiting, so a
 * reader that asks "is more buffered?" (the subscriber, to end a batch and flush its FINs) is
 * never told yes while the next byte is still on the network.
 */
final class InflatingInputStream extends InputStream {
    private final InputStream raw;
    private final Inflater inflater = new Inflater(true);
    private final byte[] in = new byte[64 * 1024];
    private final byte[] out = new byte[64 * 1024];
    private int pos, end;

    InflatingInputStream(InputStream raw) { this.raw = raw; }

    @Override
    public int read() throws IOException {
        if (pos == end && !fill(true)) return -1;
        return out[pos++] & 0xff;
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
        if (len == 0) return 0;
        if (pos == end && !fill(true)) return -1;
        int n = Math.min(len, end - pos);
        System.arraycopy(out, pos, b, off, n);
        pos += n;
        return n;
    }

    @Override
    public int available() throws IOException {
        if (pos == end) fill(false);
        return end - pos;
    }

    /**
     * Inflates into the empty output buffer; reads the socket only when {@code block} or bytes are there. False at the
     * end of the stream.
     */
    private boolean fill(boolean block) throws IOException {
        pos = end = 0;
        try {
            while (true) {
                int n = inflater.inflate(out);
                if (n > 0) {
                    end = n;
                    return true;
                }
                if (inflater.finished()) return false; // nsqd never ends the stream; a final block means it closed
                if (!inflater.needsInput()) throw new IOException("deflate stream from nsqd stalled (dictionary or "
                    + "format error)");
                if (!block && raw.available() <= 0) return true;
                int r = raw.read(in, 0, block ? in.length : Math.min(in.length, raw.available()));
                if (r < 0) throw new EOFException("nsqd closed the compressed stream");
                inflater.setInput(in, 0, r);
            }
        } catch (DataFormatException e) {
            throw new IOException("nsqd sent deflate data that does not inflate: " + e.getMessage(), e);
        }
    }

    @Override
    public void close() throws IOException {
        inflater.end();
        raw.close();
    }
}
