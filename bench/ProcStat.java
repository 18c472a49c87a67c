import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * CPU time, resident memory and threads of a process, read from /proc (Linux), so every tool is measured the same way.
 */
final class ProcStat {
    /** Clock ticks per second of /proc/PID/stat's utime and stime (USER_HZ, 100 on Linux). */
    static final double TICKS = 100.0;

    private ProcStat() {}

    /** utime + stime in ticks; -1 when the process is gone. */
    static long cpuTicks(long pid) {
        try {
            String s = Files.readString(Path.of("/proc/" + pid + "/stat"));
            String[] f = s.substring(s.lastIndexOf(')') + 2).split(" "); // f[0] is field 3 (state)
            return Long.parseLong(f[11]) + Long.parseLong(f[12]);       // fields 14 and 15
        } catch (IOException | RuntimeException gone) {
            return -1;
        }
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
