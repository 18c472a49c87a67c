import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The wakeup at scale: many socket-backed groups over many streams on two nsqd, all idle. Measures
 * the wakeup's CPU over a quiet minute, its RSS and threads, how long one scan takes (its own debug
 * line), the time from a publish to each of that stream's groups being woken (by push, normally),
 * and every group woken at once (one message on every stream): its threads then, how many wakes it
 * had under way at once, and how long until the last group was woken. The stand-in sockets answer
 * "ok" after {@link #ANSWER}, as a consumer's cold start would, so wakes overlap as they do in production.
 */
final class WakeupScale {
    private static final Pattern SCAN = Pattern.compile("scan: .* in (\\d+) ms");
    /** A cold start's 'ok' (bench/latency: p50 ~180 ms, p95 ~210 ms on an idle machine). */
    static final Duration ANSWER = Duration.ofMillis(200);

    private final Bench bench;
    private final int streams, groupsPerStream, idleSec, settleSec, samples;

    WakeupScale(Bench bench) {
        this.bench = bench;
        boolean smoke = bench.smoke;
        streams = smoke ? 2 : 100;
        groupsPerStream = smoke ? 5 : 10;
        idleSec = smoke ? 2 : 60;
        settleSec = smoke ? 0 : 10;
        samples = smoke ? 2 : 10;
    }

    static String stream(int s) { return String.format(Locale.ROOT, "s%03d", s); }

    static String group(int s, int g) { return stream(s) + "-g" + g; }

    void run() throws Exception {
        // short: unix socket paths have 108 bytes
        Path sockets = Files.createTempDirectory(Path.of("/tmp"), "mqb-wake-");
        List<String> groups = new ArrayList<>();
        for (int s = 0; s < streams; s++) for (int g = 0; g < groupsPerStream; g++) groups.add(group(s, g));
        String what = String.format(Locale.ROOT, "wakeup idle, %,d socket-backed groups over %d streams on 2 nsqd",
            groups.size(), streams);
        // nsqd's default memory queue: 2,200 channels of 10M slots would be 176 GB; nothing is queued here anyway.
        try (BenchNsqd a = BenchNsqd.start(Bench.NSQ_BIN.resolve("nsqd"),
            10_000); BenchNsqd b = BenchNsqd.start(Bench.NSQ_BIN.resolve("nsqd"), 10_000);
             WakeSockets helper = new WakeSockets(sockets, groups, ANSWER)) {
            long created = System.nanoTime();
            for (BenchNsqd n : List.of(a, b)) {
                for (int s = 0; s < streams; s++) {
                    n.createTopic(stream(s));
                    for (int g = 0; g < groupsPerStream; g++) n.createChannel(stream(s), group(s, g));
                }
            }
            Bench.log(String.format(Locale.ROOT, "  created %d streams x %d groups on 2 nsqd in %.1f s", streams,
                groupsPerStream, (System.nanoTime() - created) / 1e9));
            // --max-wakes 64: the stand-ins answer after a cold start's 200 ms but cost no CPU, so the 2 per core
            // that suit real JVM starts would only stretch "all woken at once" here (the herd has real consumers).
            List<String> cmd = new ArrayList<>(Bench.ours("wakeup", "--nsqd-http", a.http, "--nsqd-http", b.http,
                "--socket-dir", sockets.toString(), "-v", "--max-wakes", "64"));
            // a few scans within the short idle window
            if (bench.smoke) cmd.addAll(List.of("--scan-interval", "500ms"));
            String extra = System.getenv("BENCH_WAKEUP_OPTS"); // for experiments, e.g. --scan-interval 10m
            if (extra != null && !extra.isBlank()) cmd.addAll(List.of(extra.trim().split("\\s+")));
            long spawn = System.nanoTime();
            Process p = bench.spawn(cmd, "wakeup", null);
            Path log = bench.logs.get(p);
            try {
                // Ready: push follows every (nsqd, stream), and two more scans ran (JIT, first wakes of nothing).
                await(p, () -> count(log, "push: following") >= 2 * streams, 180, "push to follow all " + 2 * streams
                    + " (nsqd, stream) pairs");
                double startSec = (System.nanoTime() - spawn) / 1e9;
                int scansAtReady = scans(log).size();
                await(p, () -> scans(log).size() >= scansAtReady + 2, 60, "two more scans");
                Thread.sleep(settleSec * 1000L);

                long wakesBefore = helper.wakes(), scansBefore = scans(log).size();
                long t0 = System.nanoTime(), c0 = ProcStat.cpuTicks(p.pid());
                Thread.sleep(idleSec * 1000L);
                long t1 = System.nanoTime(), c1 = ProcStat.cpuTicks(p.pid()), rss = ProcStat.rssKb(p.pid()),
                    idleThreads = ProcStat.threads(p.pid());
                List<Long> scanMs = scans(log);
                List<Long> windowScans = scanMs.subList((int) scansBefore, scanMs.size());
                double cpuPct = 100.0 * (c1 - c0) / ProcStat.TICKS / ((t1 - t0) / 1e9);
                long idleWakes = helper.wakes() - wakesBefore;

                List<Double> latencies = new ArrayList<>();
                for (int k = 0; k < samples; k++) {
                    int s = (k * 37) % streams;
                    BenchNsqd node = k % 2 == 0 ? a : b;
                    long sent = System.nanoTime();
                    node.publish(stream(s), ("bench " + k).getBytes());
                    for (int g = 0; g < groupsPerStream; g++) {
                        String group = group(s, g);
                        await(p, () -> helper.lastWake(group) > sent, 30, group + " to be woken");
                        latencies.add((helper.lastWake(group) - sent) / 1e6);
                    }
                }
                Herd herd = herd(p, helper, groups, a, b);
                double[] lat = latencies.stream().mapToDouble(Double::doubleValue).toArray();
                double[] scan = windowScans.stream().mapToDouble(Long::doubleValue).toArray();
                double scanMax = scan.length == 0 ? Double.NaN : java.util.Arrays.stream(scan).max().getAsDouble();
                double latMax = java.util.Arrays.stream(lat).max().getAsDouble();

                bench.report.target(what + ": CPU", String.format(Locale.ROOT, "%.2f %% of one core over %d s", cpuPct,
                    idleSec),
                    "< 0.5 % (issue 24; was < 1 %)", cpuPct < 0.5,
                    String.format(Locale.ROOT,
                        "%d scans and %d wakes in that window; ready (push on all %d pairs) %.1f s after spawn",
                        windowScans.size(), idleWakes, 2 * streams, startSec));
                bench.report.target(what + ": RSS", String.format(Locale.ROOT, "%.0f MB", rss / 1024.0),
                    "<= 64 MB (issue 24; was < 150 MB)", rss <= 64 * 1024, "VmRSS at the end of the idle window: "
                        + ProcStat.memory(p.pid()));
                bench.report.target(what + ": one scan", String.format(Locale.ROOT, "median %.0f ms, max %.0f ms",
                    Report.median(scan), scanMax),
                    "< 1 s", scanMax < 1000, "/stats of both nsqd and one listing of the " + groups.size()
                        + " sockets (the wakeup's own debug line)");
                bench.report.target(what + ": publish -> wake", String.format(Locale.ROOT,
                    "median %.0f ms, max %.0f ms", Report.median(lat), latMax),
                    "< 1 s", latMax < 1000, String.format(Locale.ROOT,
                        "%d publishes (HTTP /pub), every group of the stream: %d wakes", samples, lat.length));
                bench.report.target(what + ": all woken at once", String.format(Locale.ROOT,
                    "%d threads (idle %d), %d wakes under way at once, "
                    + "last woken %.1f s after the first publish", herd.peakThreads, idleThreads, herd.maxOpen,
                    herd.seconds), "no thread per wake",
                    herd.peakThreads <= idleThreads + HERD_SLACK, String.format(Locale.ROOT,
                        "one message on each of the %d streams: %d wakes; "
                        + "the sockets answer after %d ms (a cold start); threads sampled every 10 ms", streams,
                        groups.size(), ANSWER.toMillis()));
                bench.report.detail("### " + what + "\n\n```\n" + String.join(" ", cmd)
                    + "\n```\n\nScan times in the idle window (ms): "
                    + windowScans + "\n\nPublish -> wake (ms): "
                    + latencies.stream().map(x -> String.format(Locale.ROOT, "%.0f", x)).toList() + "\n\n");
                Bench.log(String.format(Locale.ROOT, "  wakeup: cpu %.2f %%, rss %d MB, threads %d, scans %s ms, "
                    + "publish->wake median %.0f ms max %.0f ms; all at once: %d threads, %d under way, %.1f s", cpuPct,
                    rss / 1024, idleThreads, windowScans, Report.median(lat), latMax,
                    herd.peakThreads, herd.maxOpen, herd.seconds));
            } finally {
                p.destroy();
                if (!p.waitFor(15, TimeUnit.SECONDS)) p.destroyForcibly();
            }
        } finally {
            try (var files = Files.walk(sockets)) { // the wakeup's status socket dir, wakeup/, included
                for (Path f : files.sorted(java.util.Comparator.reverseOrder()).toList()) Files.deleteIfExists(f);
            }
        }
    }

    /**
     * Threads a wake may add for a moment (an HTTP client worker, a scan's stats thread) without being a thread per
     * wake.
     */
    static final int HERD_SLACK = 4;

    record Herd(long peakThreads, long maxOpen, double seconds) {}

    /**
     * One message on every stream, so every group is to be woken at once; samples the wakeup's threads until the last
     * is woken.
     */
    private Herd herd(Process p, WakeSockets helper, List<String> groups, BenchNsqd a, BenchNsqd b) throws Exception {
        Thread.sleep(1_000); // past the debounce of the latency samples' wakes
        long start = System.nanoTime();
        for (int s = 0; s < streams; s++) (s % 2 == 0 ? a : b).publish(stream(s), "herd".getBytes());
        long peak = ProcStat.threads(p.pid()), deadline = start + TimeUnit.SECONDS.toNanos(120);
        while (!groups.stream().allMatch(g -> helper.lastWake(g) > start)) {
            if (!p.isAlive()) throw new IOException("the wakeup exited (" + p.exitValue()
                + ") while waking every group");
            if (System.nanoTime() > deadline) throw new IOException("not every group was woken within 120 s");
            peak = Math.max(peak, ProcStat.threads(p.pid()));
            Thread.sleep(10);
        }
        double secs = (groups.stream().mapToLong(helper::lastWake).max().getAsLong() - start) / 1e9;
        Thread.sleep(ANSWER.toMillis() + 100); // the last answers go out; threads a wake held would still be there
        peak = Math.max(peak, ProcStat.threads(p.pid()));
        return new Herd(peak, helper.maxOpen(), secs);
    }

    interface Condition { boolean holds() throws IOException; }

    private static void await(Process p, Condition c, int seconds, String what) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        while (!c.holds()) {
            if (!p.isAlive()) throw new IOException("the wakeup exited (" + p.exitValue() + ") while waiting for "
                + what);
            if (System.nanoTime() > deadline) throw new IOException("no " + what + " within " + seconds + " s");
            Thread.sleep(20);
        }
    }

    private static long count(Path log, String text) throws IOException {
        return Files.readAllLines(log).stream().filter(l -> l.contains(text)).count();
    }

    private static List<Long> scans(Path log) throws IOException {
        List<Long> out = new ArrayList<>();
        for (String l : Files.readAllLines(log)) {
            Matcher m = SCAN.matcher(l);
            if (m.find()) out.add(Long.parseLong(m.group(1)));
        }
        return out;
    }
}
