package consume;

import cli.Log;
import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import util.Errors;

/**
 * Each --exec command runs in a process group of its own ({@code setsid /bin/sh -c CMD}: the
 * shell's pid is the group's id), so the command and everything it started can be killed together,
 * even children whose parent already exited (they are reparented, but keep the group). Killed: a
 * command past --exec-timeout or still running after --drain-timeout, and, when the consumer
 * exits, whatever any of its commands left running in the background. SIGKILL of the consumer
 * leaves them running: under systemd the unit's control group (KillMode=control-group) takes them.
 * Without setsid(1) (util-linux) commands share the consumer's group and only their descendants are killed.
 *
 * <p>Thread model: workers call {@link #started} and {@link #kill}, the runner's timer {@link #kill} (a
 * timeout), the drain and the close {@link #kill} and {@link #killLeftovers}. {@code started} is guarded
 * by its own monitor, held for the bit only: kill(1) runs and /proc is read outside it.
 */
final class ProcessGroups {
    private static final Path SETSID = onPath("setsid");

    private final String envMarker;                 // MQ_GROUP=<group>, which every command and its children inherit
    private final BitSet started = new BitSet();    // pids of the commands started (= their group ids)
    private final long selfStartTicks = field(Path.of("/proc/self/stat"), 22);
    private final long selfGroup = field(Path.of("/proc/self/stat"), 5);
    private boolean warned;

    ProcessGroups(String group) { this.envMarker = "MQ_GROUP=" + group; }

    /** The argv that runs {@code command} in a new process group. */
    List<String> argv(String command) {
        List<String> argv = new ArrayList<>();
        if (SETSID != null) argv.add(SETSID.toString());
        else warnOnce();
        argv.addAll(List.of("/bin/sh", "-c", command));
        return argv;
    }

    void started(Process p) {
        if (p.pid() <= Integer.MAX_VALUE) synchronized (started) { started.set((int) p.pid()); }
    }

    /** SIGKILL to the command's whole group (and, without setsid, to its descendants). */
    void kill(Process p) {
        if (SETSID != null) {
            killGroups(Set.of(p.pid()));
            // Every member got SIGKILL at once (a dying process cannot fork): not a leftover to look for.
            if (p.pid() <= Integer.MAX_VALUE) synchronized (started) { started.clear((int) p.pid()); }
        }
        p.descendants().forEach(ProcessHandle::destroyForcibly);
        p.destroyForcibly();
    }

    /**
     * On the way out: SIGKILL to every group one of our commands started that still has a member.
     * A process counts only when its group is one we started, it started after us, and it carries
     * our MQ_GROUP in its environment, so a recycled pid never kills a stranger. Returns how many.
     */
    int killLeftovers() {
        if (SETSID == null) return 0;
        synchronized (started) { if (started.isEmpty()) return 0; } // no command ran: nothing to look for
        Set<Long> groups = new TreeSet<>();
        int processes = 0;
        try (DirectoryStream<Path> procs = Files.newDirectoryStream(Path.of("/proc"), "[0-9]*")) {
            for (Path proc : procs) {
                String[] stat = stat(proc.resolve("stat"));
                if (stat == null || stat[0].equals("Z")) continue; // gone, or dead and waiting to be reaped
                long pgrp = Long.parseLong(stat[5 - 3]);
                if (pgrp <= 0 || pgrp == selfGroup || pgrp > Integer.MAX_VALUE) continue;
                synchronized (started) { if (!started.get((int) pgrp)) continue; }
                if (Long.parseLong(stat[22 - 3]) < selfStartTicks || !hasEnv(proc)) continue;
                groups.add(pgrp);
                processes++;
            }
        } catch (IOException e) {
            Log.warn("cannot look for commands left running: %s", Errors.oneLine(e));
            return 0;
        }
        if (groups.isEmpty()) return 0;
        Log.warn("killing %d process(es) that --exec commands left running (process groups %s)", processes, groups);
        killGroups(groups);
        return processes;
    }

    private boolean hasEnv(Path proc) {
        try {
            for (String kv : new String(Files.readAllBytes(proc.resolve("environ")),
                    StandardCharsets.UTF_8).split("\0")) {
                if (kv.equals(envMarker)) return true;
            }
        } catch (IOException gone) {
            // exited meanwhile, or not ours to read (then not ours to kill either)
        }
        return false;
    }

    /** kill(1) with negative pids: Java has no killpg. A group already gone is not an error. */
    private static void killGroups(Set<Long> groups) {
        List<String> cmd = new ArrayList<>(List.of("kill", "-KILL", "--"));
        for (long g : groups) cmd.add("-" + g);
        try {
            Process k = new ProcessBuilder(cmd).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            if (!k.waitFor(5, TimeUnit.SECONDS)) k.destroyForcibly();
        } catch (IOException e) {
            Log.warn("cannot kill process groups %s: %s", groups, Errors.oneLine(e));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private synchronized void warnOnce() {
        if (warned) return;
        warned = true;
        Log.warn("setsid not found (util-linux): --exec commands share the consumer's process group, and children they "
            + "leave behind are not killed on exit");
    }

    /**
     * /proc/<pid>/stat from field 3 (state) on: field n is at index n - 3. The command name, field 2,
     * may hold spaces and parentheses, so the split starts after its last ')'. Null if unreadable.
     */
    static String[] stat(Path stat) {
        try {
            String s = Files.readString(stat, StandardCharsets.US_ASCII);
            return s.substring(s.lastIndexOf(')') + 2).split(" ");
        } catch (IOException | RuntimeException gone) {
            return null;
        }
    }

    private static long field(Path stat, int n) {
        String[] f = stat(stat);
        return f == null ? -1 : Long.parseLong(f[n - 3]);
    }

    private static Path onPath(String name) {
        for (String dir : System.getenv().getOrDefault("PATH", "/usr/bin:/bin").split(File.pathSeparator)) {
            Path p = Path.of(dir.isEmpty() ? "." : dir, name);
            if (Files.isExecutable(p)) return p;
        }
        return null;
    }
}
