package nsq;

import java.io.IOException;
import java.io.OutputStream;

/**
 * A connection's write buffer ({@link java.io.BufferedOutputStream} with a size that follows {@link BufferSize}):
 * small while the connection is quiet, up to 64 KiB while batches fill it; a write larger than that goes straight
 * to the socket after what is buffered. Thread model: one writer at a time (the connection's write lock).
 */
public final class SizedOutput extends OutputStream {
    private final OutputStream out;
    private final BufferSize sizing;
    private byte[] buf;
    private int count;

    public SizedOutput(OutputStream out, BufferSize sizing) {
        this.out = out;
        this.sizing = sizing;
        this.buf = new byte[sizing.size()];
    }

    /** The buffer's size now: for tests of the sizing. */
    public int bufferSize() { return buf.length; }

    @Override
    public void write(int b) throws IOException {
        if (count == buf.length) room(1);
        buf[count++] = (byte) b;
    }

    @Override
    public void write(byte[] b, int off, int len) throws IOException {
        if (len > buf.length - count) {
            room(len);
            if (len > buf.length - count) { // larger than the largest buffer: not copied
                out.write(b, off, len);
                return;
            }
        }
        System.arraycopy(b, off, buf, count, len);
        count += len;
    }

    /** Grows the buffer so {@code len} more fit, or (past the largest size) writes out what it holds. */
    private void room(int len) throws IOException {
        int size = sizing.grow(count + len, System.nanoTime());
        if (size > buf.length) buf = java.util.Arrays.copyOf(buf, size);
        if (len > buf.length - count) drain();
    }

    private void drain() throws IOException {
        if (count > 0) out.write(buf, 0, count);
        count = 0;
    }

    /** Writes out what is buffered; quiet for a while, the buffer goes back to its smallest size. */
    @Override
    public void flush() throws IOException {
        drain();
        out.flush();
        if (sizing.shrink(System.nanoTime())) buf = new byte[sizing.size()];
    }

    @Override
    public void close() throws IOException {
        try {
            flush();
        } finally {
            out.close();
        }
    }
}
