import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

/**
 * CPU time, resident memory and threads of a process, read from /proc (Linux), so every tool is measured the same way.
 */
final class ProcStat {
    /** Clock ticks per second of /proc/PID/stat's utime and stime (USER_HZ, 100 on Linux). */
    static final double TICKS = 100.0;

    private ProcStat() {}

    /** One reading of /proc/PID/stat: parent, name, own CPU, that of the children it reaped (ticks), resident pages. */
    record Stat(long pid, long ppid, String comm, long self, long reaped, long rssPages) {
        long total() { return self + reaped; }
    }

    /** This process's /proc/PID/stat; null when it is gone. */
    static Stat stat(long pid) {
        try {
            String s = Files.readString(Path.of("/proc/" + pid + "/stat"));
            int open = s.indexOf('('), close = s.lastIndexOf(')'); // the name may hold spaces and parentheses
            String[] f = s.substring(close + 2).split(" "); // f[0] is field 3 (state)
            return new Stat(pid, Long.parseLong(f[1]), s.substring(open + 1, close),
                Long.parseLong(f[11]) + Long.parseLong(f[12]), Long.parseLong(f[13]) + Long.parseLong(f[14]),
                Long.parseLong(f[21])); // fields 4, 14+15, 16+17, 24
        } catch (IOException | RuntimeException gone) {
            return null;
        }
    }

    /** The pids /proc lists now. */
    static List<Long> pids() throws IOException {
        try (Stream<Path> procs = Files.list(Path.of("/proc"))) {
            return procs.map(p -> p.getFileName().toString()).filter(n -> n.chars().allMatch(Character::isDigit))
                .map(Long::parseLong).toList();
        }
    }

    /** utime + stime in ticks; -1 when the process is gone. */
    static long cpuTicks(long pid) {
        Stat s = stat(pid);
        return s == null ? -1 : s.self();
    }

    /** VmRSS in KiB; -1 when the process is gone. */
    static long rssKb(long pid) { return status(pid, "VmRSS:"); }

    /**
     * Where the resident memory is, from /proc/PID/status and smaps_rollup: anonymous (heap, stacks, malloc) against
     * file-backed (the jars, libjvm, the AOT cache, shared with every JVM that maps them), and the threads.
     */
    static String memory(long pid) {
        return String.format(java.util.Locale.ROOT, "anon %d MB, file %d MB, shmem %d MB, %d threads",
            status(pid, "RssAnon:") / 1024, status(pid, "RssFile:") / 1024, status(pid, "RssShmem:") / 1024,
            threads(pid));
    }

    /** Threads the process has now; -1 when it is gone. */
    static long threads(long pid) { return status(pid, "Threads:"); }

    /** A numeric field of /proc/PID/status; -1 when the process is gone. */
    private static long status(long pid, String field) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/status"))) {
                if (line.startsWith(field)) return Long.parseLong(line.replaceAll("[^0-9]", ""));
            }
        } catch (IOException | RuntimeException gone) {
            // falls through
        }
        return -1;
    }
}
