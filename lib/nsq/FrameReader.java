package nsq;

import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.net.SocketTimeoutException;

/**
 * Reads frames from nsqd through a buffer of its own, so the subscriber can ask "is another
 * complete frame already here?" without a system call per message: that question decides when a
 * batch ends (flush output, send FINs), and a partial frame must not count (nsqd's 16 KiB output
 * flushes end mid-frame; counting any buffered byte held a lone message until nsqd's next flush).
 * Frame sizes are checked as {@link Frame} describes: a peer that is not nsqd is named at once.
 *
 * <p>A peer that stops half-way through a frame is stalled, not idle: nsqd finishes a frame it began
 * at its next flush. So a read that blocks with part of a frame in hand is told apart ({@link Waits}
 * gives it a shorter timeout, {@link #stalledSinceNanos()} shows it to other threads), and the time
 * bytes last arrived is kept ({@link #lastBytesNanos()}): what an idle check needs to tell a quiet
 * connection from a dead one. Thread model: one reader thread calls everything but those two
 * getters, which any thread may read.
 *
 * <p>A connection's reader ({@link #growing}) sizes its buffer by {@link BufferSize}: 4 KiB while quiet, up to
 * 64 KiB while reads fill it. A frame larger than the buffer is read straight into its own array either way.
 */
public final class FrameReader {
    /**
     * Told before a read blocks whether it waits between frames or inside one; the connection sets its timeout from
     * that.
     */
    public interface Waits {
        /** Returns the timeout now set, in ms (0: none). */
        int waiting(boolean midFrame) throws IOException;
    }

    private static final int HEADER = 8; // size + type
    /**
     * Up to this size a frame is allocated at once; a larger one grows as its bytes arrive, so a lying size costs
     * nothing.
     */
    private static final int TRUSTED_SIZE = 16 << 20;
    private final InputStream in;
    private final HostPort peer;
    private byte[] buf;
    /** Null: the buffer keeps its size. */
    private final BufferSize sizing;
    /**
     * Reads no byte past the frame: during the handshake nsqd may send the next layer's bytes (TLS, compression) right
     * behind an answer.
     */
    private final boolean exact;
    private final Waits waits;
    private int pos, lim;
    /** Which kind of wait {@link #waits} was last told of (a change costs a call; most reads repeat the last kind). */
    private Boolean waitingMidFrame;
    private int midFrameTimeoutMillis;
    private volatile long lastBytesNanos = System.nanoTime(), stalledSinceNanos;

    public FrameReader(InputStream in, HostPort peer, int bufferSize) {
        this(in, peer, bufferSize, false, null, null);
    }

    /** {@code waits}: told which kind of wait each blocking read is (null: all alike). */
    public FrameReader(InputStream in, HostPort peer, int bufferSize, Waits waits) {
        this(in, peer, bufferSize, false, waits, null);
    }

    private FrameReader(InputStream in, HostPort peer, int bufferSize, boolean exact, Waits waits,
        BufferSize sizing) {
        this.in = in;
        this.peer = peer;
        this.buf = new byte[bufferSize];
        this.exact = exact;
        this.waits = waits;
        this.sizing = sizing;
    }

    /** A connection's reader after the handshake: its buffer follows {@code sizing} (see the class comment). */
    public static FrameReader growing(InputStream in, HostPort peer, Waits waits, BufferSize sizing) {
        return new FrameReader(in, peer, sizing.size(), false, waits, sizing);
    }

    /** The buffer's size now: for tests of the sizing. */
    public int bufferSize() { return buf.length; }

    /** A reader for the handshake: unbuffered, it takes exactly each frame's bytes. */
    static FrameReader exact(InputStream in, HostPort peer) {
        return new FrameReader(in, peer, 64, true, null, null);
    }

    /**
     * The connection changed its timeouts: tell {@link #waits} again before the next blocking read. Reader thread only.
     */
    void resetWaits() { waitingMidFrame = null; }

    /** When bytes last arrived from the peer (System.nanoTime()); any thread may ask. */
    public long lastBytesNanos() { return lastBytesNanos; }

    /**
     * Since when a read has been blocked with part of a frame in hand (System.nanoTime()), or 0; any thread may ask.
     */
    public long stalledSinceNanos() { return stalledSinceNanos; }

    /** The next frame; {@code limit} is the largest data size this peer may send now. */
    public Frame read(int limit) throws IOException {
        if (!fill(4)) throw new EOFException("nsqd " + peer + " closed the connection");
        int size = intAt(pos);
        Frame.checkSize(size, limit, peer, this::restOfLine);
        if (!fill(HEADER)) throw new EOFException("nsqd " + peer + " closed the connection in the middle of a frame");
        int type = intAt(pos + 4);
        Frame.checkType(type, peer);
        int n = size - 4;
        pos += HEADER;
        if (type != Frame.MESSAGE) return new Frame(type, take(n));
        Frame.checkMessage(n, peer);
        byte[] header = take(Frame.MESSAGE_HEADER);
        return new Frame(type, header, take(n - Frame.MESSAGE_HEADER));
    }

    /** The next {@code n} bytes of the current frame, in an array of their own. */
    private byte[] take(int n) throws IOException {
        int have = Math.min(n, lim - pos);
        if (n > TRUSTED_SIZE) return readGrowing(n, have);
        byte[] data = new byte[n];
        System.arraycopy(buf, pos, data, 0, have);
        pos += have;
        for (int off = have; off < n; ) { // more than is buffered: straight into its array
            int r = blockingRead(data, off, n - off, true);
            if (r < 0) throw new EOFException("nsqd " + peer + " closed the connection in the middle of a frame of " + n
                + " bytes");
            off += r;
        }
        return data;
    }

    private byte[] readGrowing(int n, int have) throws IOException {
        ByteArrayOutputStream grown = new ByteArrayOutputStream(TRUSTED_SIZE);
        grown.write(buf, pos, have);
        pos += have;
        byte[] chunk = new byte[64 * 1024];
        for (int left = n - have; left > 0; ) {
            int r = blockingRead(chunk, 0, Math.min(chunk.length, left), true);
            if (r < 0) throw new EOFException("nsqd " + peer + " closed the connection in the middle of a frame of " + n
                + " bytes");
            grown.write(chunk, 0, r);
            left -= r;
        }
        return grown.toByteArray();
    }

    /**
     * True when a complete frame can be read without waiting. Asks the socket only when the buffer does not hold one.
     */
    public boolean frameReady() throws IOException {
        if (complete()) return true;
        if (!readArrived()) return false;
        if (complete()) return true;
        // A frame larger than the buffer: compare with what the socket holds besides.
        return lim - pos >= 4 && lim - pos + (long) in.available() >= 4L + intAt(pos);
    }

    private boolean complete() {
        int buffered = lim - pos;
        return buffered >= 4 && buffered >= 4L + intAt(pos);
    }

    /** Moves into the buffer what the socket already holds (a read that does not block); false when it held nothing. */
    private boolean readArrived() throws IOException {
        int available = in.available();
        if (available <= 0) return false;
        compact();
        int r = in.read(buf, lim, Math.min(available, buf.length - lim));
        if (r > 0) {
            lim += r;
            lastBytesNanos = System.nanoTime();
            sized(lastBytesNanos);
        }
        return true;
    }

    /** Bytes received and not read yet: here and in the socket's receive buffer. */
    public int unread() throws IOException { return lim - pos + in.available(); }

    /** Makes at least {@code n} bytes available in the buffer; false at EOF before any byte of them. */
    private boolean fill(int n) throws IOException {
        if (lim - pos >= n) return true;
        shrinkIfQuiet();
        compact();
        while (lim < n) {
            int r = blockingRead(buf, lim, (exact ? n : buf.length) - lim, lim > 0 || n > 4);
            if (r < 0) {
                if (lim == 0) return false;
                throw new EOFException("nsqd " + peer + " closed the connection in the middle of a frame");
            }
            lim += r;
            if (sizing != null) sized(System.nanoTime());
        }
        return true;
    }

    /**
     * After a read: a full buffer means more is coming than it holds (doubled for the next read); more than the
     * smallest size in use keeps it from shrinking.
     */
    private void sized(long now) {
        if (sizing == null) return;
        int size = sizing.grow(lim == buf.length ? 2 * buf.length : lim, now);
        if (size > buf.length) buf = java.util.Arrays.copyOf(buf, size);
    }

    /** Between frames with nothing buffered, before a read that may wait long: quiet for a while, back to small. */
    private void shrinkIfQuiet() {
        if (sizing != null && lim == pos && sizing.shrink(System.nanoTime())) {
            buf = new byte[sizing.size()];
            pos = lim = 0;
        }
    }

    /**
     * A read that may block: between frames it waits for the next one (a heartbeat is due every interval), inside one
     * it waits for nsqd's next flush, and a timeout there says so instead of blaming heartbeats.
     */
    private int blockingRead(byte[] b, int off, int len, boolean midFrame) throws IOException {
        if (waits != null && (waitingMidFrame == null || waitingMidFrame != midFrame)) {
            int timeout = waits.waiting(midFrame);
            if (midFrame) midFrameTimeoutMillis = timeout;
            waitingMidFrame = midFrame;
        }
        int r;
        if (!midFrame) {
            r = in.read(b, off, len);
        } else {
            stalledSinceNanos = System.nanoTime();
            try {
                r = in.read(b, off, len);
            } catch (SocketTimeoutException e) {
                throw new IOException("nsqd " + peer + " stopped half-way through a frame: nothing more of it came "
                    + (midFrameTimeoutMillis > 0 ? "for " + midFrameTimeoutMillis + " ms" : "in time")
                    + " (a stalled connection, not an idle one)", e);
            } finally {
                stalledSinceNanos = 0;
            }
        }
        if (r > 0) lastBytesNanos = System.nanoTime();
        return r;
    }

    private void compact() {
        if (pos == 0) return;
        System.arraycopy(buf, pos, buf, 0, lim - pos);
        lim -= pos;
        pos = 0;
    }

    private int intAt(int at) {
        return (buf[at] & 0xff) << 24 | (buf[at + 1] & 0xff) << 16 | (buf[at + 2] & 0xff) << 8 | buf[at + 3] & 0xff;
    }

    /** After "HTTP" where a size was due: the status line's rest, as far as it arrived (the connection is done for). */
    private String restOfLine() {
        try {
            readArrived();
        } catch (IOException e) {
            // only a detail of an error message is missing
        }
        StringBuilder sb = new StringBuilder();
        for (int i = pos + 4; i < lim && sb.length() < 60 && buf[i] != '\r'
            && buf[i] != '\n'; i++) sb.append((char) buf[i]);
        return sb.toString();
    }
}
