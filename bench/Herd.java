import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * The herd (issue 24): G groups of one stream, M messages of 200 B waiting in each, every group behind its own socket
 * the way the unit runs it (scripts/socket-activate-consumer: systemd-socket-activate, then bin/mqueue consumer
 * --socket-activation, in a loop), then one wakeup starts and wakes them all at once: a host back from maintenance.
 * Measured from the wakeup's spawn: the time until every message was printed (each group's stdout, a 201-byte line
 * per message), the consumer JVMs alive at once and the sum of their VmRSS (sampled every {@link #EVERY_MS} ms), the
 * CPU they spent (the last sample of each), and the count: every group exactly M lines, nsqd with nothing left.
 * Twice in one run: the settings before issue 24 (--max-wakes 64, --backlog-linger 0), then the defaults.
 */
final class Herd {
    static final long EVERY_MS = 100;
    /** Marks the consumers' command lines (JAVA_OPTS reaches them through the script), so the sampler finds them. */
    static final String MARK = "-Dmqueue.bench.herd=";

    private final Bench bench;
    final int groups, messages;

    Herd(Bench bench) {
        this.bench = bench;
        groups = bench.smoke ? 3 : 100;
        messages = bench.smoke ? 5 : 200;
    }

    record Result(double seconds, long peakJvms, long peakRssKb, double cpuSecs, long handled, long jvms,
                  String lost, String machine) {}

    void run() throws Exception {
        String what = String.format(Locale.ROOT, "herd: %d groups x %d messages waiting, one wakeup wakes them all",
            groups, messages);
        Result before = once("before", List.of("--max-wakes", "64"), Map.of("BACKLOG_LINGER", "0"));
        Result now = once("now", List.of(), Map.of());
        long want = (long) groups * messages;
        String settings = "before: wakeup --max-wakes 64, consumers BACKLOG_LINGER=0; now: the defaults (--max-wakes "
            + "2 per core = " + 2 * Bench.CORES + ", --backlog-linger 2s); TIMEOUT unset (30 s socket-activated)";
        bench.report.versus(what + ": every message handled", fmt(before.seconds) + " s", fmt(now.seconds) + " s",
            "<= 12 s", now.seconds <= 12 && now.lost == null, String.format(Locale.ROOT, "from the wakeup's spawn to "
                + "the last line printed; consumer CPU %.2f s per group before, %.2f s now (%.1f s in all, %d cores): "
                + "a JVM start and a drain each; the machine's CPU until then, now: %s; %s", before.cpuSecs / groups,
                now.cpuSecs / groups, now.cpuSecs, Bench.CORES, now.machine, settings));
        bench.report.versus(what + ": peak RSS sum", gb(before.peakRssKb), gb(now.peakRssKb), "<= 2 GB",
            now.peakRssKb <= 2L * 1024 * 1024, String.format(Locale.ROOT, "VmRSS of the consumer JVMs alive at once, "
                + "summed (the AOT cache's shared pages counted in each); at most %d JVMs at once before, %d now; "
                + "%d and %d JVMs started", before.peakJvms, now.peakJvms, before.jvms, now.jvms));
        bench.report.versus(what + ": nothing lost", before.handled + " of " + want, now.handled + " of " + want,
            "all, each once", now.lost == null && before.lost == null, now.lost == null && before.lost == null
                ? "every group printed exactly " + messages + " lines; nsqd: depth and in-flight 0"
                : "before: " + before.lost + "; now: " + now.lost);
    }

    static String fmt(double s) { return String.format(Locale.ROOT, "%.1f", s); }

    static String gb(long kb) { return String.format(Locale.ROOT, "%.2f GB", kb / 1024.0 / 1024.0); }

    private Result once(String label, List<String> wakeupArgs, Map<String, String> consumerEnv) throws Exception {
        Path sockets = Files.createTempDirectory(Path.of("/tmp"), "mqb-herd-"); // short: socket paths have 108 bytes
        Path out = Files.createTempDirectory(bench.work, "herd-" + label + "-");
        List<Process> scripts = new ArrayList<>();
        String mark = MARK + label + ProcessHandle.current().pid();
        try (BenchNsqd nsqd = BenchNsqd.start(Bench.NSQ_BIN.resolve("nsqd"), 10_000)) {
            String topic = "herd";
            nsqd.createTopic(topic);
            List<String> names = new ArrayList<>();
            for (int g = 0; g < groups; g++) {
                names.add(String.format(Locale.ROOT, "h%03d", g));
                nsqd.createChannel(topic, names.get(g));
            }
            nsqd.fill(topic, messages, 200);
            Path app = Bench.ROOT.resolve("build/current").toRealPath();
            for (String g : names) {
                ProcessBuilder pb = new ProcessBuilder("scripts/socket-activate-consumer")
                    .directory(Bench.ROOT.toFile())
                    .redirectOutput(out.resolve(g + ".out").toFile()).redirectError(out.resolve(g + ".err").toFile());
                Map<String, String> env = pb.environment();
                for (String k : List.of("TIMEOUT", "COUNT", "EXEC", "MAX_IN_FLIGHT", "NSQLOOKUPD_HTTP_ADDRESS",
                        "MQUEUE_SOCKET_DIR", "BACKLOG_LINGER")) {
                    env.remove(k);
                }
                env.putAll(Map.of("STREAM", topic, "GROUP", g, "SOCKET_DIR", sockets.toString(), "NSQD_HTTP_ADDRESS",
                    nsqd.http, "NSQD_TCP_ADDRESS", nsqd.tcp, "MQUEUE_APP", app.toString(), "FORMAT", "raw",
                    "JAVA_OPTS", mark));
                env.putAll(consumerEnv);
                scripts.add(pb.start());
            }
            awaitAll("every group's socket to listen", 120,
                () -> names.stream().allMatch(g -> Files.exists(sockets.resolve(g + ".sock"))));
            Bench.log(String.format(Locale.ROOT, "  %s: %d groups listening, %,d messages waiting in each", label,
                groups, messages));

            List<String> cmd = new ArrayList<>(Bench.ours("wakeup", "--nsqd-http", nsqd.http, "--socket-dir",
                sockets.toString()));
            cmd.addAll(wakeupArgs);
            long spawn = System.nanoTime(), machine0 = machineTicks(), nsqd0 = ProcStat.cpuTicks(nsqd.pid());
            Process wakeup = bench.spawn(cmd, "herd-wakeup-" + label, null);
            JvmSampler sampler = new JvmSampler(mark);
            int limit = bench.smoke ? 60 : 180;
            long want = (long) messages * 201, deadline = spawn + TimeUnit.SECONDS.toNanos(limit);
            long doneAt = 0, doneMachine = 0, doneNsqd = 0, doneWakeup = 0;
            double doneConsumers = 0;
            while (doneAt == 0) {
                sampler.sample();
                long done = 0;
                for (String g : names) if (Files.size(out.resolve(g + ".out")) >= want) done++;
                if (done == groups) {
                    doneAt = System.nanoTime();
                    doneMachine = machineTicks() - machine0;
                    doneNsqd = ProcStat.cpuTicks(nsqd.pid());
                    doneWakeup = ProcStat.cpuTicks(wakeup.pid());
                    doneConsumers = sampler.cpuSecs();
                } else if (!wakeup.isAlive()) {
                    throw new IOException("the wakeup exited " + wakeup.exitValue() + ": "
                        + Bench.tail(bench.logs.get(wakeup)));
                } else if (System.nanoTime() > deadline) {
                    throw new IOException(label + ": " + done + " of " + groups + " groups done after " + limit + " s");
                } else {
                    Thread.sleep(EVERY_MS);
                }
            }
            // The linger (or the timeout) and the exits: the JVMs still alive count toward the peak until they go.
            long settle = System.nanoTime() + TimeUnit.SECONDS.toNanos(4);
            while (System.nanoTime() < settle) {
                sampler.sample();
                Thread.sleep(EVERY_MS);
            }
            double secs = (doneAt - spawn) / 1e9;
            double busy = doneMachine / ProcStat.TICKS, nsqdSecs = (doneNsqd - nsqd0) / ProcStat.TICKS;
            double wakeupSecs = doneWakeup / ProcStat.TICKS, rest = busy - doneConsumers - nsqdSecs - wakeupSecs;
            String machine = String.format(Locale.ROOT, "%.1f of %.1f core-seconds busy: consumers %.1f, nsqd %.1f, "
                + "wakeup %.1f, the rest (the group scripts, this bench, other processes) %.1f", busy,
                secs * Bench.CORES, doneConsumers, nsqdSecs, wakeupSecs, rest);
            String lost = count(nsqd, topic, names, out);
            long handled = 0;
            for (String g : names) handled += Files.size(out.resolve(g + ".out")) / 201;
            Bench.log(String.format(Locale.ROOT, "  %s: all handled in %.1f s; at most %d JVMs at once, RSS sum %s; "
                + "consumer CPU %.1f s (%d JVMs); %s", label, secs, sampler.peakJvms, gb(sampler.peakRssKb),
                sampler.cpuSecs(), sampler.seen.size(), lost == null ? "nothing lost" : lost));
            Bench.log("  " + label + ": " + machine);
            wakeup.destroy();
            wakeup.waitFor(15, TimeUnit.SECONDS);
            return new Result(secs, sampler.peakJvms, sampler.peakRssKb, sampler.cpuSecs(), handled,
                sampler.seen.size(), lost, machine);
        } finally {
            for (Process s : scripts) s.destroy(); // the script stops its consumer (SIGTERM) and removes the socket
            for (Process s : scripts) {
                if (!s.waitFor(30, TimeUnit.SECONDS)) {
                    s.descendants().forEach(ProcessHandle::destroyForcibly);
                    s.destroyForcibly();
                }
            }
            try (Stream<Path> files = Files.walk(sockets)) {
                for (Path f : files.sorted(java.util.Comparator.reverseOrder()).toList()) Files.deleteIfExists(f);
            }
        }
    }

    /** Busy ticks of the whole machine (every CPU) from /proc/stat: user, nice, system, irq, softirq, steal. */
    static long machineTicks() throws IOException {
        String[] f = Files.readAllLines(Path.of("/proc/stat")).get(0).trim().split("\\s+");
        return Long.parseLong(f[1]) + Long.parseLong(f[2]) + Long.parseLong(f[3]) + Long.parseLong(f[6])
            + Long.parseLong(f[7]) + Long.parseLong(f[8]);
    }

    /** Null when every group printed exactly M lines and nsqd holds nothing for them; else what is wrong. */
    private String count(BenchNsqd nsqd, String topic, List<String> names, Path out) throws Exception {
        List<String> wrong = new ArrayList<>();
        for (String g : names) {
            long lines = Files.size(out.resolve(g + ".out")) / 201;
            if (lines != messages) wrong.add(g + " printed " + lines);
        }
        // FIN follows the print: give the last ones a moment to reach nsqd.
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        List<String> left;
        do {
            left = new ArrayList<>();
            var t = nsqd.topicStats(topic, null);
            for (var c : t.path("channels")) {
                long depth = c.path("depth").asLong(), inFlight = c.path("in_flight_count").asLong();
                long deferred = c.path("deferred_count").asLong();
                if (depth + inFlight + deferred > 0) {
                    left.add(c.path("channel_name").asText() + " depth " + depth + " in flight " + inFlight);
                }
            }
            if (left.isEmpty()) break;
            Thread.sleep(100);
        } while (System.nanoTime() < deadline);
        wrong.addAll(left);
        return wrong.isEmpty() ? null
            : wrong.size() + " groups wrong: " + String.join(", ", wrong.subList(0, Math.min(5, wrong.size())));
    }

    interface Check { boolean holds() throws IOException; }

    private static void awaitAll(String what, int seconds, Check c) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        while (!c.holds()) {
            if (System.nanoTime() > deadline) throw new IOException("no " + what + " within " + seconds + " s");
            Thread.sleep(50);
        }
    }

    /**
     * Finds the consumer JVMs by the mark on their command line (each new pid's cmdline read once) and sums their
     * VmRSS; keeps each one's last CPU reading, so the CPU of the JVMs that are gone still counts (up to one interval
     * short each).
     */
    static final class JvmSampler {
        private final String mark;
        private final Set<Long> other = new HashSet<>();
        final Map<Long, Long> seen = new LinkedHashMap<>(); // pid -> last CPU ticks
        long peakJvms, peakRssKb;

        JvmSampler(String mark) { this.mark = mark; }

        void sample() throws IOException {
            long jvms = 0, rss = 0;
            Map<Long, Long> alive = new HashMap<>();
            try (Stream<Path> procs = Files.list(Path.of("/proc"))) {
                for (Path p : procs.toList()) {
                    String name = p.getFileName().toString();
                    if (!name.chars().allMatch(Character::isDigit)) continue;
                    long pid = Long.parseLong(name);
                    if (other.contains(pid)) continue;
                    if (!seen.containsKey(pid)) {
                        String cmd;
                        try {
                            cmd = new String(Files.readAllBytes(p.resolve("cmdline"))).replace('\0', ' ');
                        } catch (IOException gone) {
                            continue;
                        }
                        // A script's child execs systemd-socket-activate, then bin/mqueue, then java, all in place:
                        // those are looked at again until they are java; anything else is not ours, for good.
                        if (!cmd.contains(mark)) {
                            if (!cmd.contains("systemd-socket-activate") && !cmd.contains("bin/mqueue")) {
                                other.add(pid);
                            }
                            continue;
                        }
                    }
                    long kb = ProcStat.rssKb(pid), ticks = ProcStat.cpuTicks(pid);
                    if (kb < 0) continue;
                    alive.put(pid, ticks);
                    jvms++;
                    rss += kb;
                }
            }
            seen.putAll(alive);
            peakJvms = Math.max(peakJvms, jvms);
            peakRssKb = Math.max(peakRssKb, rss);
        }

        double cpuSecs() { return seen.values().stream().mapToLong(Long::longValue).sum() / ProcStat.TICKS; }
    }
}
