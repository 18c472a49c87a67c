import java.time.Duration;
import java.util.concurrent.atomic.LongAdder;

/**
 * What one producer run counts (sent, acknowledged, retries, empty records skipped) and the two
 * kinds of stderr line that report it: a progress line every few seconds, and the summary.
 * Counters are LongAdders: every publishing thread adds, the progress thread and tests read.
 */
final class PublishStats {
    final ReliablePublisher.Counters counters = new ReliablePublisher.Counters();
    final LongAdder sent = new LongAdder(), skipped = new LongAdder();
    private volatile long startNs = System.nanoTime();

    void start() { startNs = System.nanoTime(); }

    long acked() { return counters.acked.sum(); }

    long notAcked() { return sent.sum() - acked(); }

    /** A daemon thread logging a progress line every {@code every}; interrupt it to stop. */
    Thread startProgress(Duration every) {
        Thread t = new Thread(() -> progress(every), "progress");
        t.setDaemon(true);
        t.start();
        return t;
    }

    private void progress(Duration every) {
        long lastAcked = 0, lastBytes = 0, lastNs = startNs;
        try {
            while (true) {
                Thread.sleep(every.toMillis());
                long now = System.nanoTime(), acked = acked(), bytes = counters.ackedBytes.sum();
                double secs = (now - lastNs) / 1e9;
                Log.info("progress: %d sent, %d acknowledged, %.0f msg/s, %.2f MB/s, %d retries",
                    sent.sum(), acked, (acked - lastAcked) / secs, (bytes - lastBytes) / secs / 1e6, counters.retries.sum());
                lastAcked = acked;
                lastBytes = bytes;
                lastNs = now;
            }
        } catch (InterruptedException done) {
            Thread.currentThread().interrupt(); // the run is over; the summary follows
        }
    }

    void summary(String label) {
        long elapsed = System.nanoTime() - startNs;
        double secs = Math.max(1e-9, elapsed / 1e9);
        Log.info("%s: %d sent, %d acknowledged, %d not acknowledged, %.0f msg/s, %.2f MB/s, %d retries, %d empty skipped, %s",
            label, sent.sum(), acked(), notAcked(), acked() / secs, counters.ackedBytes.sum() / secs / 1e6,
            counters.retries.sum(), skipped.sum(), Cli.format(Duration.ofNanos(elapsed)));
    }
}
