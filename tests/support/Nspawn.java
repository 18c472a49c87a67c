import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * One host with Debian's systemd as PID 1: {@code systemd-nspawn --boot} on a copy of the root
 * scripts/nspawn-root caches (see /work/shared/SYSTEMD.md). It shares this machine's network, so nsqd
 * on loopback is reachable both ways, and the JDK the package recorded is bound read-only at its own
 * path. Units go in by the project's own install path ({@link #install}: {@code DESTDIR=<root> make
 * reload-systemd-consumer}, or {@link #exec} of the same target inside the live container); commands
 * run inside through nsenter. {@link #close()} powers it off (kills it when it will not go) and deletes
 * the copy, so nothing is left running; a JVM shutdown hook does the same for a run that is killed.
 *
 * <p>Thread model: one test thread boots, reboots and closes a host; {@link #exec}, {@link #journal}
 * and the waits only start processes and may run on any thread.
 */
final class Nspawn implements AutoCloseable {
    static final Path REPO = NsqBinaries.repoRoot();
    static final Duration BOOT = Duration.ofSeconds(120);
    private static final Set<Nspawn> RUNNING = ConcurrentHashMap.newKeySet();
    private static Path cachedRoot;

    static {
        Runtime.getRuntime().addShutdownHook(new Thread(() -> RUNNING.forEach(Nspawn::kill), "nspawn-cleanup"));
    }

    final String name;
    final Path dir, root;
    private final List<String> binds = new ArrayList<>();
    private final Path log;
    private Process nspawn;
    private volatile long pid1;

    private Nspawn(String name, Path dir) {
        this.name = name;
        this.dir = dir;
        this.root = dir.resolve("root");
        this.log = dir.resolve("nspawn.log");
    }

    record Result(int code, String out, String err) {
        String both() { return out + err; }
    }

    // ---- can it run here?

    /**
     * Why systemd cannot be booted here, or null when it can: root, systemd-nspawn, nsenter, and a root (cached, or
     * debootstrap).
     */
    static String unavailable() {
        String uid = uid();
        if (!"0".equals(uid)) return "booting systemd as PID 1 needs root (systemd-nspawn); this runs as uid " + uid;
        if (!onPath("systemd-nspawn")) return "no systemd-nspawn (Debian: apt-get install systemd-container)";
        if (!onPath("nsenter")) return "no nsenter (Debian: apt-get install util-linux)";
        try {
            Result check = run(Duration.ofSeconds(30), Map.of(), REPO.resolve("scripts/nspawn-root").toString(),
                "--check");
            if (check.code() != 0) return check.both().strip();
        } catch (IOException | InterruptedException e) {
            return "scripts/nspawn-root --check failed: " + e;
        }
        return null;
    }

    private static String uid() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("Uid:")) return line.substring(4).trim().split("\\s+")[0];
            }
        } catch (IOException e) {
            return "unknown (" + e.getMessage() + ")";
        }
        return "unknown";
    }

    static boolean onPath(String command) {
        for (String d : System.getenv().getOrDefault("PATH", "/usr/sbin:/usr/bin:/sbin:/bin").split(":")) {
            if (!d.isEmpty() && Files.isExecutable(Path.of(d, command))) return true;
        }
        return false;
    }

    /** The cached Debian root (made by scripts/nspawn-root the first time: debootstrap, ~40 s). */
    static synchronized Path cachedRoot() throws IOException, InterruptedException {
        if (cachedRoot == null) {
            Result r = run(Duration.ofMinutes(10), Map.of(), REPO.resolve("scripts/nspawn-root").toString());
            if (r.code() != 0) throw new IllegalStateException("scripts/nspawn-root failed:\n" + r.both());
            cachedRoot = Path.of(r.out().strip());
        }
        return cachedRoot;
    }

    // ---- the host's life

    /** A new host named {@code name} (its hostname too) on a copy of the cached root in {@code parent}/name. */
    static Nspawn create(Path parent, String name) throws IOException, InterruptedException {
        Nspawn host = new Nspawn(name, parent.resolve(name));
        Files.createDirectories(host.dir);
        Result cp = run(Duration.ofMinutes(5), Map.of(), "cp", "-a", cachedRoot().toString(), host.root.toString());
        if (cp.code() != 0) throw new IllegalStateException("copying the root failed: " + cp.both());
        // The JDK the package recorded runs inside at the same path; Debian's keeps its conf in /etc/java-N.
        host.bindRo(Path.of("/usr/lib/jvm"));
        try (Stream<Path> etc = Files.list(Path.of("/etc"))) {
            etc.filter(p -> p.getFileName().toString().startsWith("java-")).sorted().forEach(host::bindRo);
        }
        return host;
    }

    /** Makes {@code path} visible inside, read-only, at the same path (before {@link #boot}). */
    Nspawn bindRo(Path path) {
        if (Files.exists(path)) binds.add("--bind-ro=" + path.toAbsolutePath());
        return this;
    }

    /** A file in the host's filesystem, e.g. "etc/mqueue/g.env" (written from outside; seen inside at once). */
    Path file(String path) { return root.resolve(path.startsWith("/") ? path.substring(1) : path); }

    void write(String path, String content) throws IOException {
        Path f = file(path);
        Files.createDirectories(f.getParent());
        Files.writeString(f, content, StandardCharsets.UTF_8);
    }

    /**
     * {@code DESTDIR=<root> make reload-systemd-consumer} with {@code env}: the project's install path, before boot.
     */
    Result install(Map<String, String> env) throws IOException, InterruptedException {
        Map<String, String> all = new LinkedHashMap<>(env);
        all.put("DESTDIR", root.toString());
        Result r = run(Duration.ofMinutes(10), all, "make", "-C", REPO.toString(), "--no-print-directory",
            "reload-systemd-consumer");
        if (r.code() != 0) throw new AssertionError(name + ": make reload-systemd-consumer failed:\n" + r.both());
        return r;
    }

    /** Boots systemd and waits until it is up ("running", or "degraded": some unit of Debian's own failed). */
    void boot() throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of("systemd-nspawn", "--quiet", "--directory=" + root, "--machine="
            + name,
            "--boot", "--register=no", "--keep-unit", "--console=passive"));
        cmd.addAll(binds);
        nspawn = new ProcessBuilder(cmd).redirectErrorStream(true)
            .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile())).start();
        RUNNING.add(this);
        pid1 = 0;
        // PID 1 is the child of systemd-nspawn whose comm is "systemd" (an intermediate child comes and goes first).
        Await.until(name + ": systemd-nspawn starts systemd (log " + log + ")", BOOT, () -> {
            if (!nspawn.isAlive()) throw new IllegalStateException(name + ": systemd-nspawn exited "
                + nspawn.exitValue() + ": " + read(log));
            for (ProcessHandle child : nspawn.children().toList()) {
                if ("systemd".equals(comm(child.pid()))) {
                    pid1 = child.pid();
                    return true;
                }
            }
            return false;
        });
        // systemctl answers once PID 1 has set up its private socket; before that it cannot connect, or says
        // this is no systemd system (nsenter may even come before the namespaces are complete).
        await("systemctl reaches PID 1", BOOT,
            () -> List.of("initializing", "starting", "running", "degraded").contains(exec("systemctl",
                "is-system-running").out().strip()));
        Result up = exec(BOOT, "systemctl", "is-system-running", "--wait");
        String state = up.out().strip();
        if (!state.equals("running") && !state.equals("degraded")) {
            throw new AssertionError(name + ": systemd did not come up (" + state + ")\n" + exec("systemctl",
                "--failed", "--no-pager").both()
                + journal(50));
        }
    }

    private static String comm(long pid) {
        try {
            return Files.readString(Path.of("/proc/" + pid + "/comm")).strip();
        } catch (IOException gone) {
            return "";
        }
    }

    /**
     * {@code systemctl reboot} inside; systemd-nspawn exits 133 for it (as systemd-nspawn@.service expects), and boots
     * again.
     */
    void reboot() throws IOException, InterruptedException {
        exec("systemctl", "reboot");
        if (!nspawn.waitFor(BOOT.toSeconds(), TimeUnit.SECONDS)) throw new AssertionError(name
            + ": the container did not go down for its reboot");
        int code = nspawn.exitValue();
        if (code != 133) throw new AssertionError(name + ": systemd-nspawn exited " + code + " on reboot, not 133: "
            + read(log));
        boot();
    }

    /** Powers it off (killing it past a bound) and deletes its root: nothing of it keeps running. */
    @Override
    public void close() throws IOException, InterruptedException {
        if (nspawn != null && nspawn.isAlive()) {
            try {
                exec(Duration.ofSeconds(30), "systemctl", "poweroff", "--no-block");
            } catch (IOException | InterruptedException | RuntimeException e) {
                System.out.println(name + ": poweroff failed (" + e + "); killing it");
            }
            if (!nspawn.waitFor(60, TimeUnit.SECONDS)) kill();
        }
        RUNNING.remove(this);
        // A container that just went can leave its root busy for a moment.
        for (int attempt = 0; ; attempt++) {
            Result rm = run(Duration.ofMinutes(2), Map.of(), "rm", "-rf", dir.toString());
            if (rm.code() == 0 || attempt == 10) break;
            Thread.sleep(500);
        }
    }

    /** SIGKILL to the container's PID 1 (which takes every process inside along) and to systemd-nspawn. */
    private void kill() {
        if (pid1 > 0) ProcessHandle.of(pid1).ifPresent(ProcessHandle::destroyForcibly);
        if (nspawn != null) {
            nspawn.destroyForcibly();
            try {
                nspawn.waitFor(15, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    // ---- inside

    /** Runs a command inside (all of PID 1's namespaces) with a 2-minute bound. */
    Result exec(String... command) throws IOException, InterruptedException { return exec(Duration.ofMinutes(2),
        command); }

    Result exec(Duration timeout, String... command) throws IOException, InterruptedException { return exec(timeout,
        Map.of(), command); }

    Result exec(Duration timeout, Map<String, String> env, String... command) throws IOException, InterruptedException {
        if (pid1 <= 0) throw new IllegalStateException(name + " is not booted");
        List<String> cmd = new ArrayList<>(List.of("nsenter", "--target", String.valueOf(pid1), "--mount", "--uts",
            "--ipc", "--net", "--pid", "--"));
        cmd.addAll(List.of(command));
        Map<String, String> all = new LinkedHashMap<>(Map.of("SYSTEMD_PAGER", "", "SYSTEMD_COLORS", "0", "LANG",
            "C.UTF-8"));
        all.putAll(env);
        return run(timeout, all, cmd.toArray(String[]::new));
    }

    /** systemctl inside; fails with its output and the journal of the units named when it does. */
    String systemctl(String... args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of("systemctl", "--no-pager"));
        cmd.addAll(List.of(args));
        Result r = exec(cmd.toArray(String[]::new));
        if (r.code() != 0) throw new AssertionError(name + ": " + String.join(" ", cmd) + " exited " + r.code() + ": "
            + r.both() + journal(40));
        return r.out();
    }

    /** "ActiveState SubState" of a unit, e.g. "active listening", "inactive dead", "failed failed". */
    String state(String unit) throws IOException, InterruptedException {
        Result r = exec("systemctl", "show", "--property=ActiveState,SubState", "--value", unit);
        return String.join(" ", r.out().strip().split("\\s+"));
    }

    /** journalctl inside with these arguments (--no-pager added); its stdout. */
    String journalctl(String... args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of("journalctl", "--no-pager"));
        cmd.addAll(List.of(args));
        Result r = exec(cmd.toArray(String[]::new));
        if (r.code() != 0 && !r.err().contains("No entries")) throw new AssertionError(name + ": " + String.join(" ",
            cmd) + ": " + r.both());
        return r.out();
    }

    /** The message bodies (-o cat) of the lines named {@code identifier} (SyslogIdentifier=), in order. */
    List<String> lines(String identifier) throws IOException, InterruptedException {
        String out = journalctl("--identifier=" + identifier, "--output=cat");
        return out.isEmpty() ? List.of() : List.of(out.split("\n"));
    }

    /**
     * The last {@code n} journal lines of these units (all of the boot's when none is named), for a failure message.
     */
    String journal(int n, String... units) {
        List<String> cmd = new ArrayList<>(List.of("--output=short-monotonic", "--lines=" + n));
        for (String u : units) cmd.add("--unit=" + u);
        try {
            return "\n--- journal of " + name + (units.length > 0 ? " " + String.join(" ", units) : "") + " ---\n"
                + journalctl(cmd.toArray(String[]::new));
        } catch (IOException | InterruptedException | AssertionError e) {
            return "\n--- journal of " + name + " unreadable: " + e + " ---\n";
        }
    }

    /** Waits (bounded) for {@code condition}; the failure carries these units' journal lines. */
    void await(String what, Duration timeout, Await.Condition condition, String... units) throws InterruptedException {
        try {
            Await.until(name + ": " + what, timeout, condition);
        } catch (AssertionError e) {
            throw new AssertionError(e.getMessage() + journal(80, units), e);
        }
    }

    /**
     * The socket unit is active ("listening", or "running" while a wake has its service running again), and
     * systemd said nothing about POLLHUP: the consumer left systemd's socket alone.
     */
    void assertListening(String socketUnit, String serviceUnit) throws IOException, InterruptedException {
        String state = state(socketUnit);
        String said = journalctl("--unit=" + socketUnit, "--output=cat");
        if (!(state.equals("active listening") || state.equals("active running")) || said.contains("POLLHUP")) {
            throw new AssertionError(name + ": " + socketUnit + " is '" + state + "', not 'active listening'"
                + journal(60, socketUnit, serviceUnit));
        }
    }

    // ---- processes on this machine

    static Result run(Duration timeout, Map<String, String> env, String... command) throws IOException,
            InterruptedException {
        Path out = Files.createTempFile("mqueue-nspawn-", ".out"), err = Files.createTempFile("mqueue-nspawn-", ".err");
        try {
            ProcessBuilder pb = new ProcessBuilder(command).redirectOutput(out.toFile()).redirectError(err.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()));
            pb.environment().putAll(env);
            Process p = pb.start();
            if (!p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                p.descendants().forEach(ProcessHandle::destroyForcibly);
                p.destroyForcibly();
                p.waitFor(10, TimeUnit.SECONDS);
                throw new AssertionError(String.join(" ", command) + " did not finish within " + timeout.toSeconds()
                    + " s: " + read(out) + read(err));
            }
            return new Result(p.exitValue(), read(out), read(err));
        } finally {
            Files.deleteIfExists(out);
            Files.deleteIfExists(err);
        }
    }

    static String read(Path p) {
        try {
            return Files.readString(p, StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "(" + p + " unreadable: " + e.getMessage() + ")";
        }
    }

    /** Deletes a directory tree (the test's own temp dirs). */
    static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir)) return;
        try (Stream<Path> files = Files.walk(dir)) {
            files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
    }
}
