package produce;

import cli.Log;
import java.time.Duration;
import java.util.concurrent.atomic.LongAdder;
import nsq.publish.ReliablePublisher;
import util.Durations;
import util.Threads;

/**
 * What one producer run counts (sent, acknowledged, retries, empty records skipped) and the two
 * kinds of stderr line that report it: a progress line every few seconds, and the summary.
 * Counters are LongAdders: every publishing thread adds, the progress thread and tests read.
 */
public final class PublishStats {
    public final ReliablePublisher.Counters counters = new ReliablePublisher.Counters();
    public final LongAdder sent = new LongAdder(), skipped = new LongAdder();
    private volatile long startNs = System.nanoTime();

    public void start() { startNs = System.nanoTime(); }

    public long acked() { return counters.acked.sum(); }

    public long notAcked() { return sent.sum() - acked(); }

    /** A daemon thread logging a progress line every {@code every}; interrupt it to stop. */
    public Thread startProgress(Duration every) {
        return Threads.start("progress", () -> progress(every));
    }

    private void progress(Duration every) {
        long lastAcked = 0, lastBytes = 0, lastNs = startNs;
        try {
            while (true) {
                Thread.sleep(every.toMillis());
                long now = System.nanoTime(), acked = acked(), bytes = counters.ackedBytes.sum();
                double secs = (now - lastNs) / 1e9;
                Log.info("progress: %d sent, %d acknowledged, %.0f msg/s, %.2f MB/s, %d retries",
                    sent.sum(), acked, (acked - lastAcked) / secs, (bytes - lastBytes) / secs / 1e6,
                        counters.retries.sum());
                lastAcked = acked;
                lastBytes = bytes;
                lastNs = now;
            }
        } catch (InterruptedException done) {
            Thread.currentThread().interrupt(); // the run is over; the summary follows
        }
    }

    public void summary(String label) {
        long elapsed = System.nanoTime() - startNs;
        double secs = Math.max(1e-9, elapsed / 1e9);
        Log.info("%s: %d sent, %d acknowledged, %d not acknowledged, %.0f msg/s, %.2f MB/s, %d retries, %d empty "
            + "skipped, %s",
            label, sent.sum(), acked(), notAcked(), acked() / secs, counters.ackedBytes.sum() / secs / 1e6,
            counters.retries.sum(), skipped.sum(), Durations.format(Duration.ofNanos(elapsed)));
    }
}
