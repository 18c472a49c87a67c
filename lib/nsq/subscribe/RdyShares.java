package nsq.subscribe;

/**
 * How a budget of in-flight messages is split over connections (go-nsq's RDY distribution), as
 * a pure function. With at least one slot per connection, each gets an even share (the remainder
 * to the first ones after {@code rotation}), capped by what that nsqd allows. With more
 * connections than slots, {@code budget} connections get RDY 1 and the rest 0; the caller moves
 * {@code rotation} on now and then so every connection gets its turn.
 */
public final class RdyShares {
    private RdyShares() {}

    /** RDY per connection; {@code maxRdy[i]} is connection i's max_rdy_count. Never more than {@code budget} in all. */
    public static int[] of(int budget, long[] maxRdy, int rotation) {
        int n = maxRdy.length;
        int[] rdy = new int[n];
        if (n == 0 || budget <= 0) return rdy;
        int share = budget / n, extra = budget % n;
        for (int k = 0; k < n; k++) {
            int i = Math.floorMod(rotation + k, n);
            rdy[i] = (int) Math.min(share + (k < extra ? 1 : 0), maxRdy[i]);
        }
        return rdy;
    }
}
