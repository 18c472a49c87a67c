import java.io.File;
import java.io.IOException;
import java.net.MalformedURLException;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import nsq.HostPort;
import org.junit.jupiter.api.Assumptions;

/**
 * The fixture's fallback where a Docker engine exists but NSQ's binaries do not: nsqd in
 * nsqio/nsq:v1.3.0. Testcontainers lives in its own JBang script (tests/container/), built and loaded
 * here only when that fallback is needed, so a run with local binaries never fetches it.
 */
final class NsqContainer extends NsqFixture.Daemon {
    static final String ENGINE = "tests/container/TestcontainersEngine.java";
    private static ContainerEngine engine; // built and loaded once per run
    private final ContainerEngine.Nsqd nsqd;

    private NsqContainer(ContainerEngine.Nsqd nsqd) {
        super("nsqd (container)");
        this.nsqd = nsqd;
    }

    /**
     * A Docker engine answers. Asked only where one may be (DOCKER_HOST or a docker.sock), so nothing is fetched
     * without one.
     */
    static synchronized boolean dockerAvailable() {
        String runtime = System.getenv("XDG_RUNTIME_DIR");
        boolean mayAnswer = System.getenv("DOCKER_HOST") != null || Files.exists(Path.of("/var/run/docker.sock"))
            || runtime != null && Files.exists(Path.of(runtime, "docker.sock"));
        if (!mayAnswer) return false;
        try {
            if (engine == null) engine = load();
            return engine.available();
        } catch (IOException | ReflectiveOperationException | InterruptedException e) {
            System.out.println("Docker not usable: cannot load " + ENGINE + ": " + e);
            return false;
        }
    }

    static NsqContainer start(List<String> flags) throws Exception {
        NsqContainer d = new NsqContainer(engine.start(flags));
        d.awaitPing();
        return d;
    }

    /** `./jbang build` the engine script (fetching Testcontainers once), then its classes on top of ours. */
    private static ContainerEngine load() throws IOException, ReflectiveOperationException, InterruptedException {
        jbang("build", ENGINE);
        List<URL> urls = new ArrayList<>();
        for (String entry : jbang("info", "classpath", ENGINE).trim().split(File.pathSeparator)) urls.add(url(entry));
        // Parent first: ContainerEngine resolves to the class this run already has.
        ClassLoader loader = new URLClassLoader(urls.toArray(URL[]::new), NsqContainer.class.getClassLoader());
        return (ContainerEngine) loader.loadClass("TestcontainersEngine").getDeclaredConstructor().newInstance();
    }

    private static URL url(String path) throws MalformedURLException { return Path.of(path).toUri().toURL(); }

    /** ./jbang with these arguments; its stdout, or an IOException with its stderr. */
    private static String jbang(String... args) throws IOException, InterruptedException {
        Path root = NsqBinaries.repoRoot(), err = Files.createTempFile("mqueue-jbang-", ".err");
        try {
            List<String> cmd = new ArrayList<>(List.of(root.resolve("jbang").toString(), "--quiet"));
            cmd.addAll(List.of(args));
            Process p = new ProcessBuilder(cmd).directory(root.toFile()).redirectError(err.toFile()).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!p.waitFor(10, TimeUnit.MINUTES)) {
                p.destroyForcibly();
                throw new IOException(cmd + " took over 10 minutes");
            }
            if (p.exitValue() != 0) throw new IOException(cmd + " exited " + p.exitValue() + ": "
                + Files.readString(err));
            return out;
        } finally {
            Files.deleteIfExists(err);
        }
    }

    @Override HostPort tcp() { return new HostPort(nsqd.host(), nsqd.tcpPort()); }
    @Override HostPort httpAddress() { return new HostPort(nsqd.host(), nsqd.httpPort()); }
    @Override long pid() { return -1; }
    @Override boolean isAlive() { return nsqd.isRunning(); }

    // Restarting a container may remap its ports, so tests that stop nsqd need local binaries.
    @Override void start() { Assumptions.abort("restarting nsqd needs local binaries (scripts/install-nsq)"); }
    @Override void sigterm() { Assumptions.abort("signalling nsqd needs local binaries (scripts/install-nsq)"); }
    @Override void sigkill() { Assumptions.abort("signalling nsqd needs local binaries (scripts/install-nsq)"); }
    @Override void stop() { nsqd.stop(); }
    @Override String tail() {
        String logs = nsqd.logs();
        return logs.length() > 500 ? logs.substring(logs.length() - 500) : logs;
    }
    @Override void printLog() { System.out.println("----- " + name + " log -----\n" + nsqd.logs()); }
}
