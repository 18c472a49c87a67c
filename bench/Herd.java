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
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * The herd (issue 24): G groups of one stream, M messages of 200 B waiting in each, every group behind its own socket
 * the way the unit runs it (scripts/socket-activate-consumer: systemd-socket-activate, then bin/mqueue consumer
 * --socket-activation, in a loop), then one wakeup starts and wakes them all at once: a host back from maintenance.
 * Measured from the wakeup's spawn: the time until every message was printed (each group's stdout, a 201-byte line
 * per message), the consumer JVMs alive at once and the sum of their VmRSS (sampled every {@link #EVERY_MS} ms), the
 * JVMs each group started, who spent the machine's CPU until then ({@link #cpuBy}: the consumers, the group scripts,
 * nsqd, the wakeup, this bench, other processes, the kernel), and the count: every group exactly M lines, nsqd with
 * nothing left.
 * Twice in one run: the settings before issue 24 (--max-wakes 64, --backlog-linger 0), then the defaults.
 */
final class Herd {
    static final long EVERY_MS = 100;

    private final Bench bench;
    final int groups, messages;

    Herd(Bench bench) {
        this.bench = bench;
        groups = bench.smoke ? 3 : 100;
        messages = bench.smoke ? 5 : 200;
    }

    record Result(double seconds, long peakJvms, long peakRssKb, double cpuSecs, long handled, String starts,
                  String lost, String machine) {}

    void run() throws Exception {
        String what = String.format(Locale.ROOT, "herd: %d groups x %d messages waiting, one wakeup wakes them all",
            groups, messages);
        Result before = once("before", List.of("--max-wakes", "64"), Map.of("BACKLOG_LINGER", "0"));
        Result now = once("now", List.of(), Map.of());
        long want = (long) groups * messages;
        String settings = "before: wakeup --max-wakes 64, consumers BACKLOG_LINGER=0; now: the defaults (--max-wakes "
            + "2 per core = " + 2 * Bench.CORES + ", --backlog-linger 1s); TIMEOUT unset (30 s socket-activated)";
        bench.report.versus(what + ": every message handled", fmt(before.seconds) + " s", fmt(now.seconds) + " s",
            "<= 12 s", now.seconds <= 12 && now.lost == null, String.format(Locale.ROOT, "from the wakeup's spawn to "
                + "the last line printed; consumer CPU %.2f s per group before, %.2f s now (%.1f s in all, %d cores): "
                + "a JVM start and a drain each; the machine's CPU until then, now: %s; %s", before.cpuSecs / groups,
                now.cpuSecs / groups, now.cpuSecs, Bench.CORES, now.machine, settings));
        bench.report.versus(what + ": peak RSS sum", gb(before.peakRssKb), gb(now.peakRssKb), "<= 2 GB",
            now.peakRssKb <= 2L * 1024 * 1024, String.format(Locale.ROOT, "VmRSS of the consumer JVMs alive at once, "
                + "summed (the AOT cache's shared pages counted in each); at most %d JVMs at once before, %d now; "
                + "JVMs started: %s before, %s now", before.peakJvms, now.peakJvms, before.starts, now.starts));
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
        Map<Long, String> groupOf = new HashMap<>(); // script pid -> its group
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
                    nsqd.http, "NSQD_TCP_ADDRESS", nsqd.tcp, "MQUEUE_APP", app.toString(), "FORMAT", "raw"));
                env.putAll(consumerEnv);
                Process script = pb.start();
                scripts.add(script);
                groupOf.put(script.pid(), g);
            }
            awaitAll("every group's socket to listen", 120,
                () -> names.stream().allMatch(g -> Files.exists(sockets.resolve(g + ".sock"))));
            Bench.log(String.format(Locale.ROOT, "  %s: %d groups listening, %,d messages waiting in each", label,
                groups, messages));

            List<String> cmd = new ArrayList<>(Bench.ours("wakeup", "--nsqd-http", nsqd.http, "--socket-dir",
                sockets.toString()));
            cmd.addAll(wakeupArgs);
            Map<Long, ProcStat.Stat> procs0 = processes();
            long spawn = System.nanoTime(), machine0 = machineTicks();
            Process wakeup = bench.spawn(cmd, "herd-wakeup-" + label, null);
            JvmSampler sampler = new JvmSampler(groupOf);
            int limit = bench.smoke ? 60 : 180;
            long want = (long) messages * 201, deadline = spawn + TimeUnit.SECONDS.toNanos(limit);
            long doneAt = 0, doneMachine = 0;
            Map<Long, ProcStat.Stat> procs1 = null;
            while (doneAt == 0) {
                sampler.sample();
                long done = 0;
                for (String g : names) if (Files.size(out.resolve(g + ".out")) >= want) done++;
                if (done == groups) {
                    doneAt = System.nanoTime();
                    doneMachine = machineTicks() - machine0;
                    procs1 = processes();
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
            CpuBy cpu = cpuBy(procs0, procs1, doneMachine, groupOf.keySet(), nsqd.pid(), wakeup.pid());
            String machine = String.format(Locale.ROOT, "%.1f of %.1f core-seconds busy: %s", doneMachine
                / ProcStat.TICKS, secs * Bench.CORES, cpu.text());
            String lost = count(nsqd, topic, names, out);
            long handled = 0;
            for (String g : names) handled += Files.size(out.resolve(g + ".out")) / 201;
            Bench.log(String.format(Locale.ROOT, "  %s: all handled in %.1f s; at most %d JVMs at once, RSS sum %s; "
                + "consumer CPU %.1f s (%s); %s", label, secs, sampler.peakJvms, gb(sampler.peakRssKb),
                sampler.cpuSecs(), sampler.starts(), lost == null ? "nothing lost" : lost));
            Bench.log("  " + label + ": " + machine);
            wakeup.destroy();
            wakeup.waitFor(15, TimeUnit.SECONDS);
            return new Result(secs, sampler.peakJvms, sampler.peakRssKb, cpu.consumers(), handled,
                sampler.starts(), lost, machine);
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
     * Every process's /proc/PID/stat: two readings, at the wakeup's spawn and when all is handled, say who spent the
     * machine's CPU in between.
     */
    static Map<Long, ProcStat.Stat> processes() throws IOException {
        Map<Long, ProcStat.Stat> all = new HashMap<>();
        for (long pid : ProcStat.pids()) {
            ProcStat.Stat r = ProcStat.stat(pid);
            if (r != null) all.put(pid, r);
        }
        return all;
    }

    /**
     * Who spent the machine's busy CPU between two readings, in core-seconds. The consumers are what the group
     * scripts reaped plus their children alive at the end (the JVM is the script's child: systemd-socket-activate
     * execs bin/mqueue, which execs java, in place); the scripts are the bash loops themselves; the bench is this
     * JVM (its sampler); other processes are everything outside this bench's tree (one that exited counts from the
     * first reading, its parent having reaped it); the kernel is the rest (interrupts, softirq, exited orphans).
     */
    record CpuBy(double consumers, String text) {}

    static CpuBy cpuBy(Map<Long, ProcStat.Stat> before, Map<Long, ProcStat.Stat> after, long machineTicks,
                       Set<Long> scripts, long nsqd, long wakeup) {
        long bench = ProcessHandle.current().pid();
        Map<String, Long> ticks = new LinkedHashMap<>(), others = new HashMap<>(); // the others by name
        for (String k : List.of("consumers", "group scripts", "nsqd", "wakeup", "bench", "other processes")) {
            ticks.put(k, 0L);
        }
        for (ProcStat.Stat a : after.values()) {
            ProcStat.Stat b = before.get(a.pid());
            long own = a.self() - (b == null ? 0 : b.self()), reaped = a.reaped() - (b == null ? 0 : b.reaped());
            String who;
            if (scripts.contains(a.pid())) {
                ticks.merge("consumers", reaped, Long::sum);
                who = "group scripts";
                reaped = 0;
            } else if (scripts.contains(a.ppid())) {
                who = "consumers";
            } else if (a.pid() == nsqd) {
                who = "nsqd";
            } else if (a.pid() == wakeup) {
                who = "wakeup";
            } else if (a.pid() == bench) {
                who = "bench";
            } else if (within(after, a.pid(), bench)) {
                who = "bench"; // a child of ours the lines above do not name
            } else {
                who = "other processes";
                others.merge(a.comm(), own + reaped, Long::sum);
            }
            ticks.merge(who, own + reaped, Long::sum);
        }
        // Gone since: its whole life is in the reaped time of the first ancestor still here; only what it spent after
        // the first reading counts.
        for (ProcStat.Stat b : before.values()) {
            if (after.containsKey(b.pid()) || within(before, b.pid(), bench)) continue;
            ProcStat.Stat up = before.get(b.ppid());
            while (up != null && !after.containsKey(up.pid())) up = before.get(up.ppid());
            if (up == null && !after.containsKey(b.ppid())) continue;
            ticks.merge("other processes", -b.total(), Long::sum);
            others.merge(up != null ? up.comm() : after.get(b.ppid()).comm(), -b.total(), Long::sum);
        }
        // The biggest of the others by name (a reaped child counts under its parent's): whose work it was.
        String top = others.entrySet().stream().filter(o -> o.getValue() >= 50)
            .sorted(Map.Entry.<String, Long>comparingByValue().reversed()).limit(3)
            .map(o -> o.getKey() + " " + fmt(o.getValue() / ProcStat.TICKS)).collect(Collectors.joining(", "));
        StringBuilder text = new StringBuilder();
        long named = 0;
        for (var e : ticks.entrySet()) {
            text.append(text.isEmpty() ? "" : ", ").append(e.getKey()).append(' ')
                .append(fmt(e.getValue() / ProcStat.TICKS));
            named += e.getValue();
            if (e.getKey().equals("other processes") && !top.isEmpty()) text.append(" (").append(top).append(')');
        }
        text.append(", kernel and unnamed ").append(fmt((machineTicks - named) / ProcStat.TICKS));
        return new CpuBy(ticks.get("consumers") / ProcStat.TICKS, text.toString());
    }

    /** Whether {@code pid} is {@code root} or descends from it, by the parents in {@code all}. */
    static boolean within(Map<Long, ProcStat.Stat> all, long pid, long root) {
        for (int depth = 0; depth < 64; depth++) {
            if (pid == root) return true;
            ProcStat.Stat p = all.get(pid);
            if (p == null || p.ppid() == 0) return false;
            pid = p.ppid();
        }
        return false;
    }

    /**
     * Follows the consumer JVMs: the children of the group scripts named java (systemd-socket-activate and bin/mqueue
     * exec in place, so the child's pid stays and only its name changes). Each sample reads /proc/PID/stat of the
     * scripts' children only (parent, name, CPU, resident pages): every other pid is looked at once. Sums their RSS;
     * keeps each one's last CPU reading, so the CPU of the JVMs that are gone still counts (up to one interval short
     * each); counts the JVMs each group started.
     */
    static final class JvmSampler {
        private final Map<Long, String> scripts; // pid -> group
        private final Set<Long> other = new HashSet<>();
        final Map<Long, Long> seen = new LinkedHashMap<>(); // pid -> last CPU ticks
        final Map<String, Integer> startsByGroup = new HashMap<>();
        long peakJvms, peakRssKb;

        JvmSampler(Map<Long, String> scripts) { this.scripts = scripts; }

        void sample() throws IOException {
            long jvms = 0, rssPages = 0;
            for (long pid : ProcStat.pids()) {
                if (other.contains(pid)) continue;
                ProcStat.Stat r = ProcStat.stat(pid);
                if (r == null) continue;
                String group = scripts.get(r.ppid());
                if (group == null) {
                    other.add(pid); // a parent never changes but to init, at its parent's exit
                    continue;
                }
                if (!r.comm().equals("java")) continue;
                if (seen.put(pid, r.self()) == null) startsByGroup.merge(group, 1, Integer::sum);
                jvms++;
                rssPages += r.rssPages();
            }
            peakJvms = Math.max(peakJvms, jvms);
            peakRssKb = Math.max(peakRssKb, rssPages * 4); // 4 KiB pages (x86-64, arm64 as Linux ships them)
        }

        double cpuSecs() { return seen.values().stream().mapToLong(Long::longValue).sum() / ProcStat.TICKS; }

        /** JVMs started in all, and the groups that started more than one (a wasted start each). */
        String starts() {
            long twice = startsByGroup.values().stream().filter(n -> n > 1).count();
            return seen.size() + " JVMs for " + scripts.size() + " groups"
                + (twice == 0 ? "" : " (" + twice + " groups started more than one)");
        }
    }
}
