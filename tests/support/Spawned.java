import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/** A process a test started, with stdout and stderr in files; killed with its descendants after the test. */
final class Spawned {
    private static final AtomicInteger SEQ = new AtomicInteger();
    final Process process;
    final Path stdout, stderr;
    final List<String> command;

    private Spawned(Process process, Path stdout, Path stderr, List<String> command) {
        this.process = process;
        this.stdout = stdout;
        this.stderr = stderr;
        this.command = command;
    }

    static Spawned start(Path dir, List<String> command, Map<String, String> env) throws IOException {
        int n = SEQ.incrementAndGet();
        Path out = dir.resolve("proc" + n + ".out"), err = dir.resolve("proc" + n + ".err");
        ProcessBuilder pb = new ProcessBuilder(withDefaultSignals(command)).directory(NsqBinaries.repoRoot().toFile())
            .redirectOutput(out.toFile()).redirectError(err.toFile());
        pb.environment().putAll(env);
        return new Spawned(pb.start(), out, err, command);
    }

    /**
     * A shell runs background jobs with SIGINT ignored, and an ignored signal stays ignored
     * across exec: a test runner started that way would hand it to every child, whose SIGINT
     * handling could then not be tested. perl (always on Debian) resets it before exec.
     */
    static List<String> withDefaultSignals(List<String> command) {
        if (!sigintIgnored()) return command;
        List<String> wrapped = new java.util.ArrayList<>(List.of("perl", "-e",
            "$SIG{INT} = 'DEFAULT'; exec { $ARGV[0] } @ARGV or die \"exec $ARGV[0]: $!\\n\";"));
        wrapped.addAll(command);
        return wrapped;
    }

    private static boolean sigintIgnored() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("SigIgn:")) return (Long.parseLong(line.substring(7).trim(), 16) & (1L << 1)) != 0;
            }
        } catch (IOException | NumberFormatException e) {
            System.out.println("cannot read SigIgn from /proc/self/status: " + e);
        }
        return false;
    }

    /** A JVM running {@code mainClass} from the test run's own classpath: ~1 s faster to start than jbang. */
    static List<String> java(String mainClass, String... args) { return java(List.of(), mainClass, args); }

    /** The same with JVM options first, e.g. "-Xmx64m". */
    static List<String> java(List<String> jvmOptions, String mainClass, String... args) {
        List<String> cmd = new java.util.ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin",
            "java").toString()));
        cmd.addAll(jvmOptions);
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), mainClass));
        cmd.addAll(List.of(args));
        return cmd;
    }

    long pid() { return process.pid(); }

    String stdout() { return read(stdout); }
    String stderr() { return read(stderr); }

    private static String read(Path p) {
        try {
            return Files.readString(p, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new IllegalStateException("cannot read " + p, e);
        }
    }

    /** Waits for exit and returns the code; fails the test (and kills it) past the bound. */
    int waitFor(Duration timeout) throws InterruptedException {
        if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
            kill();
            throw new AssertionError("process did not exit within " + timeout.toMillis() + " ms: " + command
                + "\nstderr:\n" + stderr());
        }
        return process.exitValue();
    }

    /** Sends a signal by name (TERM, INT, KILL, ...). */
    void signal(String name) throws IOException, InterruptedException {
        int rc = new ProcessBuilder("kill", "-" + name, String.valueOf(pid())).inheritIO().start().waitFor();
        if (rc != 0) throw new IOException("kill -" + name + " " + pid() + " exited " + rc);
    }

    void kill() throws InterruptedException {
        process.descendants().forEach(ProcessHandle::destroyForcibly);
        process.destroyForcibly();
        process.waitFor(10, TimeUnit.SECONDS);
    }

    void printOutput() {
        System.out.println("----- " + command + " (pid " + pid() + ") -----");
        System.out.println("stdout:\n" + stdout());
        System.out.println("stderr:\n" + stderr());
    }
}
