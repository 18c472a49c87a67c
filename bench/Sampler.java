import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Watches one tool's run from outside, on a clock shared by every tool: every {@link #EVERY_MS}
 * it reads a counter from nsqd's /stats (messages a topic took in, or a channel saw finished),
 * the CPU time of the tool and of nsqd, and the tool's resident memory. From those samples:
 * start-up (spawn to the first counted message), the steady rate (from {@code warmup} after the
 * first message to the last), and the CPU both processes spent in that window.
 */
final class Sampler {
    static final long EVERY_MS = 50;

    interface Counter { long read() throws IOException; }

    record Sample(long nanos, long count, long toolTicks, long nsqdTicks, long toolRssKb) {}

    /** One run's figures; rates per second. */
    record Run(String tool, double rate, double bytesPerSec, double startupSec, double windowSec, double toolCores,
               double nsqdCores, long peakRssKb, long counted) {}

    /**
     * Samples until {@code target} messages are counted (0: until the process exits and the count
     * settles), then returns the run. A process still running then is the caller's to wait for or stop.
     */
    static Run watch(String tool, Process p, long spawnNanos, long base, Counter counter, long target, long nsqdPid,
                     double warmupSec, long bytesPerMessage, long timeoutSec) throws IOException, InterruptedException {
        List<Sample> s = new ArrayList<>();
        s.add(new Sample(spawnNanos, base, 0, ProcStat.cpuTicks(nsqdPid), 0)); // the count just before the spawn
        long deadline = spawnNanos + TimeUnit.SECONDS.toNanos(timeoutSec);
        long exitedAt = 0;
        while (true) {
            long ticks = ProcStat.cpuTicks(p.pid()), rss = ProcStat.rssKb(p.pid());
            long c = counter.read();
            long now = System.nanoTime();
            Sample last = s.isEmpty() ? null : s.get(s.size() - 1);
            s.add(new Sample(now, c, ticks >= 0 ? ticks : last == null ? 0 : last.toolTicks(),
                ProcStat.cpuTicks(nsqdPid),
                rss >= 0 ? rss : 0));
            if (target > 0 && c >= target) break;
            if (!p.isAlive()) {
                if (exitedAt == 0) exitedAt = now;
                else if (now - exitedAt > TimeUnit.MILLISECONDS.toNanos(300)) break; // the count has settled
            }
            if (now > deadline) throw new IOException(tool + ": no end after " + timeoutSec + " s (counted " + c + ")");
            Thread.sleep(EVERY_MS);
        }
        return summarize(tool, s, spawnNanos, warmupSec, bytesPerMessage);
    }

    static Run summarize(String tool, List<Sample> s, long spawnNanos, double warmupSec,
            long bytesPerMessage) throws IOException {
        long base = s.get(0).count(), end = s.get(s.size() - 1).count();
        Sample first = null, from = null, to = null;
        for (Sample x : s) {
            if (first == null && x.count() > base) first = x;
            if (first != null && from == null && x.nanos() - first.nanos() >= warmupSec * 1e9) from = x;
            if (to == null && x.count() == end) to = x;
        }
        if (first == null) throw new IOException(tool + ": nsqd counted no message");
        if (from == null || to == null || to.nanos() <= from.nanos()) from = first; // a run shorter than the warm-up
        if (to.nanos() <= from.nanos()) from = s.get(0); // done within one sample (smoke sizes): from the spawn
        double secs = (to.nanos() - from.nanos()) / 1e9;
        double rate = (to.count() - from.count()) / secs;
        long peak = 0;
        for (Sample x : s) peak = Math.max(peak, x.toolRssKb());
        return new Run(tool, rate, rate * bytesPerMessage, (first.nanos() - spawnNanos) / 1e9, secs,
            (to.toolTicks() - from.toolTicks()) / ProcStat.TICKS / secs, (to.nsqdTicks() - from.nsqdTicks())
                / ProcStat.TICKS / secs,
            peak, end - base);
    }
}
