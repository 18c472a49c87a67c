package nsq;

/**
 * How big a connection's read or write buffer is: small while the connection is quiet, grown as its frames need.
 * An idle connection (the wakeup holds 200 push connections at 1,000 groups) kept 64 KiB each way, 25 MB of heap
 * for heartbeats; a busy one reads and writes 64 KiB at a time as before. Starts at {@link #MIN}, doubles up to
 * {@link #MAX} when the traffic fills it, and goes back to {@link #MIN} once nothing needed more for {@link
 * #QUIET_NANOS}. Thread model: one owner at a time (the buffer's reader, or its writer under the write lock).
 */
public final class BufferSize {
    static final int MIN = 4 * 1024, MAX = 64 * 1024;
    /** Nothing needed more than {@link #MIN} for this long: the buffer goes back to it. */
    static final long QUIET_NANOS = 10_000_000_000L;

    private final long quietNanos;
    private int size = MIN;
    private long lastBigNanos;

    public BufferSize() { this(QUIET_NANOS); }

    /** Back to {@link #MIN} after {@code quietNanos} without more needed (tests shorten it). */
    public BufferSize(long quietNanos) { this.quietNanos = quietNanos; }

    public int size() { return size; }

    /**
     * {@code needed} bytes were wanted in one go (System.nanoTime() {@code now}): the size to use from now on, doubled
     * to fit them, at most {@link #MAX}. More than {@link #MIN} wanted counts as traffic that keeps it large.
     */
    public int grow(int needed, long now) {
        if (needed <= MIN) return size;
        lastBigNanos = now;
        if (size < needed) size = Math.min(MAX, Integer.highestOneBit(needed - 1) << 1);
        return size;
    }

    /** True (and the size back at {@link #MIN}) when the buffer is larger and nothing needed that for a while. */
    public boolean shrink(long now) {
        if (size == MIN || now - lastBigNanos < quietNanos) return false;
        size = MIN;
        return true;
    }
}
