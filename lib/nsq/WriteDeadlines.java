package nsq;

import java.time.Duration;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import util.Threads;

/**
 * Deadlines for socket writes, which Java cannot time out (go-nsq's SetWriteDeadline): a write that has not
 * returned within its limit has its socket closed, so the blocked writer gets an IOException and the peer that
 * stopped reading (a SIGSTOPped nsqd, a full link) is dropped; nsqd requeues what that connection held.
 *
 * <p>Thread model: writers stamp their {@link Watch} (two volatile writes per write, no lock, no wake-up); one
 * daemon thread, started with the first watch, owns the expiry: it looks at the stamps every quarter of the
 * shortest limit while any watch is registered (a timer, not a wait for a condition: a write in progress has no
 * event to wait on), and indefinitely while none is. It waits on this object's monitor, which a new watch
 * notifies: a shorter limit shortens the wait at once. A write is caught between its limit and 1.25 times it.
 * The monitor guards only the thread's start and its waits.
 */
public final class WriteDeadlines {
    /** Every connection of the JVM shares one watchdog: it costs a thread only while a connection is open. */
    public static final WriteDeadlines SHARED = new WriteDeadlines("nsq-write-deadlines");

    private final String threadName;
    private final Set<Watch> watched = ConcurrentHashMap.newKeySet();
    private boolean running; // guarded by this

    WriteDeadlines(String threadName) { this.threadName = threadName; }

    /** One connection's writes: {@link #begin()} before the bytes go out, {@link #end()} after. */
    public final class Watch {
        private final long limitNanos;
        private final Runnable expire;
        /** When the write in progress began (System.nanoTime(), never 0), or 0 when none is. */
        private volatile long since;
        private volatile boolean expired;

        private Watch(Duration limit, Runnable expire) {
            this.limitNanos = limit.toNanos();
            this.expire = expire;
        }

        public void begin() {
            long now = System.nanoTime();
            since = now == 0 ? 1 : now;
        }

        public void end() { since = 0; }

        /** True once a write outlasted the limit and the socket was closed for it. */
        public boolean expired() { return expired; }

        /** No more writes to watch (the connection closed). */
        public void cancel() { watched.remove(this); }

        private void check(long now) {
            long s = since;
            if (s == 0 || expired || now - s < limitNanos) return;
            expired = true;
            watched.remove(this);
            expire.run();
        }
    }

    /** Watches one connection's writes: past {@code limit}, the watchdog runs {@code expire} (closes its socket). */
    public Watch watch(Duration limit, Runnable expire) {
        if (limit.isZero() || limit.isNegative()) {
            throw new IllegalArgumentException("write timeout " + limit + ": must be more than 0");
        }
        Watch w = new Watch(limit, expire);
        watched.add(w);
        synchronized (this) {
            if (!running) {
                running = true;
                Threads.start(threadName, this::loop);
            } else {
                notifyAll();
            }
        }
        return w;
    }

    private void loop() {
        while (true) {
            try {
                synchronized (this) {
                    // The shortest limit is read under the monitor, and the wait releases it: a watch registered
                    // meanwhile (watch() notifies under it) wakes this at once, so its limit is never slept past.
                    // Read outside, a watch cancelled in between left the set empty and the tick infinite: the
                    // watchdog slept for good, and no deadline in the JVM held again.
                    long tick;
                    while ((tick = shortestTickNanos()) == 0) wait();
                    wait(Math.max(10, tick / 1_000_000));
                }
                long now = System.nanoTime();
                for (Watch w : watched) w.check(now);
            } catch (InterruptedException e) {
                return; // nobody interrupts it; a JVM going down does not need it
            } catch (RuntimeException e) {
                // An expire action's bug must not end the watch of every other connection.
                System.err.println("nsq: write watchdog: " + NsqException.describe(e));
            }
        }
    }

    /** A quarter of the shortest limit watched (a write is caught by 1.25 times its limit), or 0 when none is. */
    private long shortestTickNanos() {
        long tick = 0;
        for (Watch w : watched) {
            long quarter = Math.max(1, w.limitNanos / 4);
            tick = tick == 0 ? quarter : Math.min(tick, quarter);
        }
        return tick;
    }
}
