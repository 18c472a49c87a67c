import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.ToDoubleFunction;

/**
 * The bench's one table (printed and written to bench/RESULTS.md) and what stands behind it:
 * the machine, every run's figures, the exact commands. Medians with their spread (min-max).
 */
final class Report {
    enum Unit { MSGS, MBS }

    private final List<String> rows = new ArrayList<>();
    private final List<String> details = new ArrayList<>();
    private final List<String> machine = new ArrayList<>();
    private boolean failed;

    static final String HEADER =
        "| case | NSQ's Go tool | mqueue | ratio | target | met | notes |\n|---|---|---|---|---|---|---|\n";

    boolean failed() { return failed; }

    String table() { return HEADER + String.join("", rows); }

    // ---- rows

    void compare(String what, List<Sampler.Run> go, List<Sampler.Run> ours, Unit unit, double target,
                 Map<String, List<String>> commands, BenchNsqd nsqd) {
        ToDoubleFunction<Sampler.Run> v = unit == Unit.MSGS ? Sampler.Run::rate : r -> r.bytesPerSec() / 1e6;
        double g = median(go, v), o = median(ours, v), ratio = o / g;
        String goName = go.get(0).tool(), ourName = ours.get(0).tool();
        String notes = String.format(Locale.ROOT, "start-up to first message: %s %.2f s, %s %.2f s; CPU in the window: "
            + "%s %.2f + nsqd %.2f cores, %s %.2f + nsqd %.2f cores",
            goName, median(go, Sampler.Run::startupSec), ourName.split(" ")[0], median(ours, Sampler.Run::startupSec),
            goName, median(go, Sampler.Run::toolCores), median(go, Sampler.Run::nsqdCores),
            ourName.split(" ")[0], median(ours, Sampler.Run::toolCores), median(ours, Sampler.Run::nsqdCores));
        if (ratio < target) notes += "; " + limit(median(ours, Sampler.Run::toolCores), median(ours,
            Sampler.Run::nsqdCores), ourName.split(" ")[0]);
        rows.add(row(what, goName + " " + spread(go, v, unit), ourName + " " + spread(ours, v, unit),
            String.format(Locale.ROOT, "%.2f", ratio), String.format(Locale.ROOT, ">= %.1f", target), ratio >= target
                ? "yes" : "**no**", notes));
        details.add("### " + what + "\n");
        details.add("| run | tool | msg/s | MB/s | start-up s | window s | tool cores | nsqd cores | peak RSS MB "
            + "|\n|---|---|---|---|---|---|---|---|---|\n");
        int n = Math.max(go.size(), ours.size());
        for (int i = 0; i < n; i++) {
            if (i < go.size()) details.add(runRow(i + 1, go.get(i)));
            if (i < ours.size()) details.add(runRow(i + 1, ours.get(i)));
        }
        details.add("\n");
        if (!commands.isEmpty()) {
            details.add("Commands (first pair; later runs differ only in topic or channel), on `" + String.join(" ",
                nsqd.command)
                .replace(nsqd.dir.toString(), "$TMPFS_DIR") + "`:\n\n```\n");
            commands.forEach((tool, cmd) -> details.add(String.join(" ", cmd) + "\n"));
            details.add("```\n\n");
        }
    }

    /** What held a run back, from where the CPU went (2 cores on the bench machine). */
    static String limit(double toolCores, double nsqdCores, String tool) {
        if (toolCores + nsqdCores >= Bench.CORES * 0.9) return "limit: the machine (both cores busy)";
        if (toolCores >= 0.9) return String.format(Locale.ROOT,
            "limit: %s, CPU-bound at %.2f cores while nsqd used %.2f (its work is on one thread per connection)", tool,
            toolCores, nsqdCores);
        if (nsqdCores >= 0.9) return String.format(Locale.ROOT, "limit: nsqd at %.2f cores", nsqdCores);
        return "limit: neither process saturated a core (round trips, or another load on the machine)";
    }

    /** Peak RSS of each side; met when every run of ours peaked at {@code maxMb} or less. */
    void rss(String what, List<Sampler.Run> go, List<Sampler.Run> ours, int maxMb) {
        ToDoubleFunction<Sampler.Run> mb = r -> r.peakRssKb() / 1024.0;
        boolean met = ours.stream().allMatch(r -> mb.applyAsDouble(r) <= maxMb);
        rows.add(row(what, go.get(0).tool() + " " + spreadPlain(go, mb, "MB"), ours.get(0).tool() + " "
            + spreadPlain(ours, mb, "MB"), "", "<= " + maxMb + " MB in every run (issue 24)", met ? "yes" : "**no**",
            "peak VmRSS sampled every " + Sampler.EVERY_MS + " ms during the runs above"));
    }

    /** A row with a target of our own (no Go tool to compare with). */
    void target(String what, String value, String target, boolean met, String notes) {
        rows.add(row(what, "", value, "", target, met ? "yes" : "**no**", notes));
    }

    /** A row with a target of our own and a baseline measured in the same run (the settings before a change). */
    void versus(String what, String baseline, String value, String target, boolean met, String notes) {
        rows.add(row(what, "before: " + baseline, value, "", target, met ? "yes" : "**no**", notes));
    }

    void note(String what, String text) { rows.add(row(what, "", "", "", "", "", text)); }

    void failure(String what, Exception e) {
        failed = true;
        StringWriter trace = new StringWriter();
        e.printStackTrace(new PrintWriter(trace));
        rows.add(row(what, "", "", "", "", "**failed**", oneLine(e.toString())));
        details.add("### " + what + ": failed\n\n```\n" + trace + "```\n\n");
    }

    void detail(String markdown) { details.add(markdown); }

    /** Output of an external bench (bench/latency): its '|' lines are rows, all of it goes to the details. */
    void external(String what, List<String> cmd, List<String> lines) {
        for (String l : lines) if (l.startsWith("|") && !l.startsWith("|---") && !l.startsWith("| case")) rows.add(l
            + "\n");
        details.add("### " + what + "\n\n`" + String.join(" ", cmd) + "`:\n\n```\n" + String.join("\n", lines)
            + "\n```\n\n");
    }

    private static String row(String... cells) {
        StringBuilder b = new StringBuilder("|");
        for (String c : cells) b.append(' ').append(c.replace("|", "/")).append(" |");
        return b.append('\n').toString();
    }

    private static String runRow(int i, Sampler.Run r) {
        return String.format(Locale.ROOT, "| %d | %s | %,.0f | %.1f | %.2f | %.1f | %.2f | %.2f | %,d |\n", i, r.tool(),
            r.rate(),
            r.bytesPerSec() / 1e6, r.startupSec(), r.windowSec(), r.toolCores(), r.nsqdCores(), r.peakRssKb() / 1024);
    }

    // ---- numbers

    static double median(List<Sampler.Run> runs, ToDoubleFunction<Sampler.Run> v) {
        return median(runs.stream().mapToDouble(v).toArray());
    }

    static double median(double[] xs) {
        double[] s = xs.clone();
        Arrays.sort(s);
        int n = s.length;
        return n == 0 ? Double.NaN : n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
    }

    private static String spread(List<Sampler.Run> runs, ToDoubleFunction<Sampler.Run> v, Unit unit) {
        double[] xs = runs.stream().mapToDouble(v).sorted().toArray();
        String u = unit == Unit.MSGS ? "msg/s" : "MB/s";
        return fmt(median(xs), unit) + " " + u + " (" + fmt(xs[0], unit) + "-" + fmt(xs[xs.length - 1], unit) + ", "
            + xs.length + " runs)";
    }

    static String spreadPlain(List<Sampler.Run> runs, ToDoubleFunction<Sampler.Run> v, String unit) {
        double[] xs = runs.stream().mapToDouble(v).sorted().toArray();
        return String.format(Locale.ROOT, "%.0f %s (%.0f-%.0f)", median(xs), unit, xs[0], xs[xs.length - 1]);
    }

    private static String fmt(double x, Unit unit) {
        if (unit == Unit.MBS) return String.format(Locale.ROOT, "%.0f", x);
        return x >= 10_000 ? String.format(Locale.ROOT, "%.0fk", x / 1000) : String.format(Locale.ROOT, "%.0f", x);
    }

    static String oneLine(String s) { return s.replaceAll("\\s+", " "); }

    // ---- the machine and the file

    void machine(Path nsqd) {
        machine.add("- cores: " + Bench.CORES + " (" + firstMatch("/proc/cpuinfo", "model name") + ")");
        machine.add("- memory: " + firstMatch("/proc/meminfo", "MemTotal") + "; kernel " + command("uname", "-r"));
        machine.add("- JDK: " + oneLine(command("java", "-version")));
        machine.add("- nsqd: " + command(nsqd.toString(), "--version"));
        String commit = command("git", "rev-parse", "--short", "HEAD");
        machine.add("- mqueue: commit " + commit + (command("git", "status", "--porcelain",
            "--untracked-files=no").isBlank() ? "" : " with uncommitted changes"));
    }

    private static String firstMatch(String file, String key) {
        try {
            for (String l : Files.readAllLines(Path.of(file))) if (l.startsWith(key)) return l.substring(l.indexOf(':')
                + 1).trim();
        } catch (IOException e) {
            return "unknown (" + e.getMessage() + ")";
        }
        return "unknown";
    }

    static String command(String... cmd) {
        try {
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
            p.waitFor();
            return out;
        } catch (IOException | InterruptedException e) {
            return "unknown (" + e.getMessage() + ")";
        }
    }

    String markdown(boolean smoke, String args) {
        StringBuilder b = new StringBuilder();
        b.append("# mqueue benchmark results\n\n");
        b.append("Written by `make bench` (`bench/Bench.java").append(args.isBlank() ? "" : " " + args).append("`) on ")
            .append(Instant.now().truncatedTo(ChronoUnit.SECONDS))
            .append(". Regenerated on every run; never edit it by hand.")
            .append(smoke ? " **Smoke run: tiny sizes, the numbers mean nothing.**" : "").append("\n\n");
        b.append("## Machine\n\n").append(String.join("\n", machine)).append("\n\n");
        b.append("## Results\n\n").append(table()).append("\n");
        b.append("""
            ## How it is measured

            - Every case starts its own nsqd (ports chosen by the OS, data dir on tmpfs, `--mem-queue-size=%d`), so
              nothing goes to nsqd's disk queue and nsqd is not the bottleneck of a client comparison. The wakeup case
              keeps nsqd's default memory queue: it queues nothing, and 2,200 channels of 10M slots would not fit.
            - NSQ's Go tool and mqueue take turns on that nsqd, A B A B, in pairs; the table shows medians with min-max.
            - Rates come from nsqd's `/stats`, sampled every %d ms on the bench's clock: a topic's `message_count`
              (publish) or a channel's `message_count - depth - deferred_count`, what it handed out (consume: TCP flow
              control keeps that within a socket buffer of what the consumer has read). The steady
              rate runs from 1 s after the first counted message to the last one; start-up (spawn to first message, a
              JVM start for mqueue) is reported apart.
            - CPU (utime + stime from `/proc/PID/stat`) of the tool and of nsqd over that same window shows who was
              busy: 2.0 cores between them is a saturated machine. RSS is VmRSS from `/proc/PID/status`.
            - mqueue's tools start the shipped way (`bin/mqueue` on the package `scripts/package` made: one JVM, \
            AOT cache or CDS archive).

            """.formatted(BenchNsqd.MEM_QUEUE, Sampler.EVERY_MS));
        b.append("## Runs and commands\n\n").append(String.join("", details));
        return b.toString();
    }
}
