///usr/bin/env jbang "$0" "$@" ; exit $?
//JAVA 17+
//DEPS com.fasterxml.jackson.core:jackson-databind:2.18.2
//SOURCES BenchNsqd.java Sampler.java ProcStat.java ../tests/support/WakeSockets.java WakeupScale.java Report.java
//SOURCES Herd.java

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * `make bench`: mqueue next to NSQ's own Go tools, each case on a private nsqd that is not the
 * bottleneck, the two tools taking turns on it (A B A B ...), rates read from nsqd's /stats on the
 * bench's clock, JVM start-up apart from the steady rate. Prints one table and writes it, with the
 * machine and the exact commands, to bench/RESULTS.md.
 *
 *   bench/Bench.java [--smoke] [--pairs N] [--out FILE|-] [CASE...]
 *   CASE: publish-200 publish-1m consume-200 consume-1m handler wakeup herd latency (default: all)
 *
 * --smoke runs every case at a tiny size (the test that keeps these scripts alive); its numbers
 * mean nothing. BENCH_CONSUMER_CONNECTIONS sets the consumer's --connections (default: one per
 * core, as bench_reader opens). The bench itself takes no lock: wrap it in
 * `flock -x /tmp/mqueue-cpu.lock` on a shared machine.
 */
public class Bench {
    static final Path ROOT = Path.of("").toAbsolutePath();
    static final Path NSQ_BIN = ROOT.resolve(".nsq/bin");
    static final int CORES = Runtime.getRuntime().availableProcessors();
    /** The seed's PAYLOAD_KEYS=1000 event is ~1,024,1xx bytes; the Go tool and --size use this many. */
    static final int MIB_EVENT = 1_024_100;
    /**
     * bench_reader opens one connection per core (GOMAXPROCS); nsqd sends on each from one goroutine, so the consumer
     * gets as many.
     */
    static final int CONSUMER_CONNECTIONS = Integer.parseInt(System.getenv().getOrDefault("BENCH_CONSUMER_CONNECTIONS",
        String.valueOf(CORES)));

    final boolean smoke;
    final int pairs;
    final Report report = new Report();
    final Path work;

    Bench(boolean smoke, int pairs) throws IOException {
        this.smoke = smoke;
        this.pairs = pairs;
        this.work = Files.createTempDirectory("mqueue-bench-");
    }

    public static void main(String[] args) throws Exception {
        boolean smoke = false;
        int pairs = 5; // the machine is shared and noisy: medians of 5 hold better than of 3
        String out = null;
        List<String> cases = new ArrayList<>();
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--smoke" -> smoke = true;
                case "--pairs" -> pairs = Integer.parseInt(args[++i]);
                case "--out" -> out = args[++i];
                case "-h", "--help" -> {
                    System.out.println("usage: bench/Bench.java [--smoke] [--pairs N] [--out FILE|-] [CASE...]\n"
                        + "CASE: " + String.join(" ", CASES));
                    return;
                }
                default -> {
                    if (!CASES.contains(args[i])) {
                        System.err.println("bench: unknown case '" + args[i] + "': one of " + String.join(", ", CASES));
                        System.exit(2);
                    }
                    cases.add(args[i]);
                }
            }
        }
        if (pairs < 1) { System.err.println("bench: --pairs " + pairs + ": at least 1"); System.exit(2); }
        if (cases.isEmpty()) cases = CASES;
        if (out == null) out = smoke || cases.size() < CASES.size() ? "-" : "bench/RESULTS.md";
        Bench b = new Bench(smoke, smoke ? 1 : pairs);
        try {
            b.run(cases, args);
        } finally {
            b.cleanUp();
        }
        System.out.println();
        System.out.print(b.report.table());
        if (!out.equals("-")) {
            Files.writeString(Path.of(out), b.report.markdown(b.smoke, String.join(" ", args)));
            System.out.println("\nwritten to " + out);
        }
        System.exit(b.report.failed() ? 1 : 0);
    }

    static final List<String> CASES = List.of("publish-200", "publish-1m", "consume-200", "consume-1m", "handler",
        "wakeup",
        "herd", "latency");

    void run(List<String> cases, String[] args) throws Exception {
        report.machine(NSQ_BIN.resolve("nsqd"));
        long built = System.nanoTime();
        packageTools();
        log(String.format(Locale.ROOT, "built the tools in %.0f s", (System.nanoTime() - built) / 1e9));
        for (String c : cases) {
            log("case " + c);
            long t0 = System.nanoTime();
            try {
                switch (c) {
                    case "publish-200" -> publish200();
                    case "publish-1m" -> publish1m();
                    case "consume-200" -> consume("consume-200", 200, smoke ? 5_000 : 2_000_000);
                    case "consume-1m" -> consume("consume-1m", MIB_EVENT, smoke ? 8 : 6_000);
                    case "handler" -> handler();
                    case "wakeup" -> new WakeupScale(this).run();
                    case "herd" -> new Herd(this).run();
                    case "latency" -> latency();
                    default -> throw new IllegalArgumentException(c);
                }
            } catch (Exception e) {
                report.failure(c, e);
                log("case " + c + " failed: " + e);
            }
            log(String.format(Locale.ROOT, "case %s took %.0f s", c, (System.nanoTime() - t0) / 1e9));
        }
    }

    // ---- publish

    /** Seconds each publishing run lasts (bench_writer -runfor, producer --duration). */
    int runfor() { return smoke ? 1 : 6; }

    double warmup() { return smoke ? 0 : 1.0; }

    void publish200() throws Exception {
        try (BenchNsqd nsqd = BenchNsqd.start(NSQ_BIN.resolve("nsqd"))) {
            Map<String, List<Sampler.Run>> runs = new LinkedHashMap<>();
            Map<String, List<String>> commands = new LinkedHashMap<>();
            for (int i = 0; i < pairs; i++) {
                publishRun(nsqd, runs, commands, "bench_writer", "pub" + i + "go",
                    t -> List.of(NSQ_BIN.resolve("bench_writer").toString(),
                    "-nsqd-tcp-address", nsqd.tcp, "-topic", t, "-size", "200", "-batch-size", "200", "-runfor",
                        runfor() + "s"));
                publishRun(nsqd, runs, commands, "producer", "pub" + i + "mq", t -> ours("producer", "-s", t, "--nsqd",
                    nsqd.tcp,
                    "--rate", "max", "--size", "200", "--batch", "200", "--threads", String.valueOf(CORES),
                        "--duration", runfor() + "s"));
            }
            report.compare("publish 200 B (MPUB 200, " + CORES + " connections each, " + runfor() + " s)",
                runs.get("bench_writer"), runs.get("producer"), Report.Unit.MSGS, 1.0, commands, nsqd);
        }
    }

    void publish1m() throws Exception {
        try (BenchNsqd nsqd = BenchNsqd.start(NSQ_BIN.resolve("nsqd"))) {
            Map<String, List<Sampler.Run>> runs = new LinkedHashMap<>();
            Map<String, List<String>> commands = new LinkedHashMap<>();
            String size = String.valueOf(MIB_EVENT), threads = String.valueOf(CORES);
            for (int i = 0; i < pairs; i++) {
                publishRun(nsqd, runs, commands, "bench_writer", "big" + i + "go",
                    t -> List.of(NSQ_BIN.resolve("bench_writer").toString(),
                    "-nsqd-tcp-address", nsqd.tcp, "-topic", t, "-size", size, "-batch-size", "4", "-runfor", runfor()
                        + "s"));
                publishRun(nsqd, runs, commands, "producer --payload-keys 1000", "big" + i + "keys",
                    t -> ours("producer", "-s", t,
                    "--nsqd", nsqd.tcp, "--rate", "max", "--payload-keys", "1000", "--threads", threads, "--duration",
                        runfor() + "s"));
                publishRun(nsqd, runs, commands, "producer --size " + size, "big" + i + "size", t -> ours("producer",
                    "-s", t,
                    "--nsqd", nsqd.tcp, "--rate", "max", "--size", size, "--threads", threads, "--duration", runfor()
                        + "s"));
            }
            String what = "publish ~1 MiB (MPUB 4, " + CORES + " connections each, " + runfor() + " s)";
            report.compare(what + ", --payload-keys 1000", runs.get("bench_writer"),
                runs.get("producer --payload-keys 1000"),
                Report.Unit.MBS, 0.9, commands, nsqd);
            report.compare(what + ", --size " + size, runs.get("bench_writer"), runs.get("producer --size " + size),
                Report.Unit.MBS, 0.9, Map.of(), nsqd);
        }
    }

    interface Command { List<String> of(String topic) throws IOException; }

    private void publishRun(BenchNsqd nsqd, Map<String, List<Sampler.Run>> runs, Map<String, List<String>> commands,
        String tool,
                            String topic, Command command) throws Exception {
        List<String> cmd = command.of(topic);
        commands.putIfAbsent(tool, cmd);
        long base = nsqd.published(topic), spawn = System.nanoTime();
        Process p = spawn(cmd, tool, null);
        Sampler.Run r = Sampler.watch(tool, p, spawn, base, () -> nsqd.published(topic), 0, nsqd.pid(), warmup(), 0,
            runfor() + 120L);
        var t = nsqd.topicStats(topic, null);
        long bytes = t.path("message_bytes").asLong(), count = Math.max(1, t.path("message_count").asLong());
        r = withBytes(r, (double) bytes / count);
        checkExit(p, tool);
        nsqd.deleteTopic(topic); // nsqd would keep every message in memory
        nsqd.settle();
        runs.computeIfAbsent(tool, k -> new ArrayList<>()).add(r);
        log(String.format(Locale.ROOT, "  %-32s %,12.0f msg/s %8.1f MB/s  start-up %.2f s  cpu %.2f + nsqd %.2f cores",
            tool, r.rate(), r.bytesPerSec() / 1e6, r.startupSec(), r.toolCores(), r.nsqdCores()));
    }

    static Sampler.Run withBytes(Sampler.Run r, double perMessage) {
        return new Sampler.Run(r.tool(), r.rate(), r.rate() * perMessage, r.startupSec(), r.windowSec(), r.toolCores(),
            r.nsqdCores(),
            r.peakRssKb(), r.counted());
    }

    // ---- consume

    void consume(String name, int size, long n) throws Exception {
        try (BenchNsqd nsqd = BenchNsqd.start(NSQ_BIN.resolve("nsqd"))) {
            String topic = "sub";
            nsqd.createTopic(topic);
            for (int i = 0; i < 2 * pairs; i++) nsqd.createChannel(topic, "c" + i);
            long t0 = System.nanoTime();
            nsqd.fill(topic, n, size);
            for (int i = 0; i < 2 * pairs; i++) awaitDepth(nsqd, topic, "c" + i, n);
            log(String.format(Locale.ROOT, "  filled %,d x %,d B into %d channels in %.1f s", n, size, 2 * pairs,
                (System.nanoTime() - t0) / 1e9));
            Map<String, List<Sampler.Run>> runs = new LinkedHashMap<>();
            Map<String, List<String>> commands = new LinkedHashMap<>();
            for (int i = 0; i < pairs; i++) {
                String goCh = "c" + (2 * i), mqCh = "c" + (2 * i + 1);
                consumeRun(nsqd, runs, commands, "bench_reader", topic, goCh, n, size,
                    List.of(NSQ_BIN.resolve("bench_reader").toString(),
                    "-nsqd-tcp-address", nsqd.tcp, "-topic", topic, "-channel", goCh, "-size", String.valueOf(size),
                        "-runfor", "300s"));
                consumeRun(nsqd, runs, commands, "consumer", topic, mqCh, n, size, ours("consumer", "-s", topic, "-g",
                    mqCh,
                    "--nsqd", nsqd.tcp, "--connections", String.valueOf(CONSUMER_CONNECTIONS), "--count",
                        String.valueOf(n), "--format", "raw"));
            }
            String what = (size == 200 ? "consume 200 B" : "consume ~1 MiB") + String.format(Locale.ROOT,
                " (%,d messages, %s, output to /dev/null)", n, CONSUMER_CONNECTIONS == CORES ? CORES
                    + " connections each"
                    : "bench_reader " + CORES + " connections, consumer " + CONSUMER_CONNECTIONS);
            report.compare(what, runs.get("bench_reader"), runs.get("consumer"), size == 200 ? Report.Unit.MSGS
                : Report.Unit.MBS, 1.0, commands, nsqd);
            report.rss("consumer RSS at full speed, " + (size == 200 ? "200 B" : "~1 MiB"), runs.get("bench_reader"),
                runs.get("consumer"), size == 200 ? 64 : 128);
        }
    }

    private void consumeRun(BenchNsqd nsqd, Map<String, List<Sampler.Run>> runs, Map<String, List<String>> commands,
        String tool,
                            String topic, String channel, long n, int size, List<String> cmd) throws Exception {
        commands.putIfAbsent(tool, cmd);
        nsqd.settle();
        long base = nsqd.handedOut(topic, channel), spawn = System.nanoTime();
        Process p = spawn(cmd, tool, ProcessBuilder.Redirect.DISCARD);
        Sampler.Run r = Sampler.watch(tool, p, spawn, base, () -> nsqd.handedOut(topic, channel), n, nsqd.pid(),
            warmup(), size, 300);
        if (!tool.equals("bench_reader")) checkExit(p, tool); // ours stop at --count
        // bench_reader runs for a time, not a count
        else if (p.isAlive()) { p.destroy(); p.waitFor(10, TimeUnit.SECONDS); }
        runs.computeIfAbsent(tool, k -> new ArrayList<>()).add(r);
        log(String.format(Locale.ROOT,
            "  %-14s %,12.0f msg/s %8.1f MB/s  start-up %.2f s  cpu %.2f + nsqd %.2f cores  peak RSS %,d MB",
            tool, r.rate(), r.bytesPerSec() / 1e6, r.startupSec(), r.toolCores(), r.nsqdCores(), r.peakRssKb() / 1024));
    }

    // ---- handler: a Java handler in the consumer's JVM (lib/Nsq.java) beside consumer --exec, the same trivial work

    /**
     * 200-byte messages handled by a handler that does nothing: bench/noop.java (the front door, packaged as a
     * user's handler is) against `consumer --exec true`, both with one worker per core, taking turns on one
     * nsqd. What it shows is the price of a process per message. The exec side reads fewer messages: a run of
     * the same length. The handler gets --max-in-flight 200: with the default (--concurrency, 2 here) a handler
     * that does nothing waits on nsqd's round trips, not on itself; a command per message gains nothing from it.
     */
    void handler() throws Exception {
        Path pkg = work.resolve("noop");
        Path log = work.resolve("package-noop.err");
        ProcessBuilder pb = new ProcessBuilder("scripts/package", pkg.toString(),
            "bench/noop.java").directory(ROOT.toFile())
            .redirectErrorStream(true).redirectOutput(log.toFile());
        if (smoke) pb.environment().put("MQUEUE_TRAIN", "false");
        if (pb.start().waitFor() != 0) throw new IOException("scripts/package bench/noop.java failed: "
            + Files.readString(log));
        long javaN = smoke ? 2_000 : 400_000, execN = smoke ? 30 : 4_000;
        String workers = String.valueOf(CORES), window = "200";
        try (BenchNsqd nsqd = BenchNsqd.start(NSQ_BIN.resolve("nsqd"))) {
            String topic = "work";
            nsqd.createTopic(topic);
            for (int i = 0; i < 2 * pairs; i++) nsqd.createChannel(topic, "h" + i);
            nsqd.fill(topic, javaN, 200);
            for (int i = 0; i < 2 * pairs; i++) awaitDepth(nsqd, topic, "h" + i, javaN);
            Map<String, List<Sampler.Run>> runs = new LinkedHashMap<>();
            Map<String, List<String>> commands = new LinkedHashMap<>();
            String exec = "consumer --exec true", java = "noop handler (in-process)";
            for (int i = 0; i < pairs; i++) {
                String execCh = "h" + (2 * i), javaCh = "h" + (2 * i + 1);
                consumeRun(nsqd, runs, commands, exec, topic, execCh, execN, 200, ours("consumer", "-s", topic, "-g",
                    execCh,
                    "--nsqd", nsqd.tcp, "--exec", "true", "--concurrency", workers, "--count", String.valueOf(execN)));
                List<String> noop = new ArrayList<>(List.of("env", "MQUEUE_APP=" + pkg.resolve("current")));
                noop.addAll(ours("noop", "-s", topic, "-g", javaCh, "--nsqd", nsqd.tcp, "--concurrency", workers,
                    "--max-in-flight", window,
                    "--count", String.valueOf(javaN)));
                consumeRun(nsqd, runs, commands, java, topic, javaCh, javaN, 200, noop);
            }
            report.compare(String.format(Locale.ROOT,
                "handle 200 B with a handler that does nothing (%d workers): in the JVM "
                    + "(lib/Nsq.java, --max-in-flight %s) against --exec true (%,d and %,d messages)", CORES, window,
                    javaN, execN),
                runs.get(exec), runs.get(java), Report.Unit.MSGS, 10.0, commands, nsqd);
        }
    }

    private void awaitDepth(BenchNsqd nsqd, String topic, String channel, long n) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        while (true) {
            var t = nsqd.topicStats(topic, channel);
            long depth = 0;
            if (t != null) for (var c
                : t.path("channels")) if (c.path("channel_name").asText().equals(channel)) depth = c.path("depth")
                .asLong();
            if (depth >= n) return;
            if (System.nanoTime() > deadline) throw new IOException(channel + ": depth " + depth + " of " + n
                + " after 120 s");
            Thread.sleep(50);
        }
    }

    // ---- latency: bench/latency (issue 10) joins the table when it exists

    /**
     * The hook for the latency work: an executable bench/latency is run (BENCH_SMOKE=1 when
     * smoke-testing); the lines it prints that start with '|' are rows of this table
     * (| case | NSQ's tool | mqueue | ratio | target | met | notes |), the rest goes to RESULTS.md as it is.
     */
    void latency() throws Exception {
        Path script = ROOT.resolve("bench/latency");
        if (!Files.isExecutable(script)) {
            report.note("latency",
                "bench/latency is not in this checkout: cold wake and warm delivery are not measured here");
            return;
        }
        List<String> cmd = List.of(script.toString());
        Path out = work.resolve("latency.out");
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(ROOT.toFile()).redirectOutput(out.toFile())
            .redirectError(work.resolve("latency.err").toFile());
        if (smoke) pb.environment().put("BENCH_SMOKE", "1");
        Process p = pb.start();
        if (!p.waitFor(smoke ? 5 : 10, TimeUnit.MINUTES)) {
            p.destroyForcibly();
            throw new IOException("bench/latency did not finish in time");
        }
        if (p.exitValue() != 0) throw new IOException("bench/latency exited " + p.exitValue() + ": "
            + Files.readString(work.resolve("latency.err")));
        report.external("latency", cmd, Files.readAllLines(out));
    }

    // ---- processes

    /** One of our tools, started the shipped way: bin/mqueue on the package scripts/package made. */
    static List<String> ours(String tool, String... args) {
        List<String> cmd = new ArrayList<>(List.of("bin/mqueue", tool));
        cmd.addAll(List.of(args));
        return cmd;
    }

    /** scripts/package, before any timing: quick when the package is up to date. */
    void packageTools() throws Exception {
        Path log = work.resolve("package.err");
        Process p = new ProcessBuilder("scripts/package").directory(ROOT.toFile()).redirectErrorStream(true)
            .redirectOutput(log.toFile()).start();
        if (p.waitFor() != 0) throw new IOException("scripts/package failed: " + Files.readString(log));
    }

    private int spawned;

    Process spawn(List<String> cmd, String tool, ProcessBuilder.Redirect stdout) throws IOException {
        int n = ++spawned;
        Path err = work.resolve(n + "-" + tool.replaceAll("[^a-z_]", "") + ".err");
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(ROOT.toFile()).redirectError(err.toFile())
            .redirectOutput(stdout != null ? stdout : ProcessBuilder.Redirect.appendTo(err.toFile()));
        Process p = pb.start();
        logs.put(p, err);
        return p;
    }

    final Map<Process, Path> logs = new LinkedHashMap<>();

    void checkExit(Process p, String tool) throws Exception {
        if (!p.waitFor(60, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new IOException(tool + " did not exit");
        }
        if (p.exitValue() != 0) throw new IOException(tool + " exited " + p.exitValue() + ": " + tail(logs.get(p)));
    }

    static String tail(Path log) throws IOException {
        List<String> lines = Files.readAllLines(log);
        return String.join("\n", lines.subList(Math.max(0, lines.size() - 5), lines.size()));
    }

    static void log(String line) { System.err.println("bench: " + line); }

    void cleanUp() throws IOException {
        for (Process p : logs.keySet()) if (p.isAlive()) p.destroyForcibly();
        try (var files = Files.walk(work)) {
            List<Path> all = new ArrayList<>(files.toList());
            java.util.Collections.reverse(all);
            for (Path f : all) Files.deleteIfExists(f);
        }
    }
}
