import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import activation.WakeSocket;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import nsq.http.NsqHttp;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * systemd/: every unit passes `systemd-analyze verify` without a single warning (templates as
 * instance copies), every service scores <= 2.0 in `systemd-analyze security --offline=yes`,
 * and `make reload-systemd-consumer` installs into a temp root and creates topic + channel.
 */
@Tag("process")
class SystemdUnitsTest {
    static final Path ROOT = NsqBinaries.repoRoot();
    static final Pattern EXPOSURE = Pattern.compile("Overall exposure level for (\\S+): (\\d+(?:\\.\\d+)?)");

    @RegisterExtension final NsqFixture nsq = new NsqFixture();
    @TempDir Path tmp;

    /** Copies of the units as they would be installed with PREFIX = {@code prefix}; templates as instance g1. */
    static List<Path> instanceCopies(Path from, Path to, Path prefix) throws IOException {
        Files.createDirectories(to);
        List<Path> units = new ArrayList<>();
        try (Stream<Path> files = Files.list(from)) {
            for (Path unit : files.filter(p -> p.toString().matches(".*\\.(service|socket)$")).sorted().toList()) {
                String name = unit.getFileName().toString().replace("@.", "@g1.");
                Path copy = to.resolve(name);
                Files.writeString(copy, Files.readString(unit).replace("/opt/mqueue", prefix.toString()));
                units.add(copy);
            }
        }
        // The drop-ins beside them (the shared sandbox): systemd-analyze reads those of the unit's directory.
        try (Stream<Path> dirs = Files.list(from)) {
            for (Path dropIns : dirs.filter(p -> p.toString().endsWith(".d") && Files.isDirectory(p)).toList()) {
                Path copy = Files.createDirectories(to.resolve(dropIns.getFileName().toString()));
                try (Stream<Path> confs = Files.list(dropIns)) {
                    for (Path conf : confs.toList()) Files.copy(conf, copy.resolve(conf.getFileName()));
                }
            }
        }
        return units;
    }

    record Result(int code, String stdout, String stderr) {}

    static Result run(Path dir, Map<String, String> env, String... command) throws Exception {
        ProcessBuilder pb = new ProcessBuilder(command).directory(ROOT.toFile())
            .redirectOutput(dir.resolve("out.txt").toFile()).redirectError(dir.resolve("err.txt").toFile());
        pb.environment().putAll(env);
        Process p = pb.start();
        if (!p.waitFor(5, TimeUnit.MINUTES)) {
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
            throw new AssertionError(String.join(" ", command) + " did not finish in 5 minutes");
        }
        return new Result(p.exitValue(), Files.readString(dir.resolve("out.txt"), StandardCharsets.UTF_8),
            Files.readString(dir.resolve("err.txt"), StandardCharsets.UTF_8));
    }

    static void assertVerifies(List<Path> units, Path workDir) throws Exception {
        assertFalse(units.isEmpty());
        for (Path unit : units) {
            Result r = run(workDir, Map.of(), "systemd-analyze", "verify", unit.toString());
            assertEquals(0, r.code(), unit.getFileName() + ": systemd-analyze verify failed: " + r.stderr());
            assertEquals("", r.stderr().strip(), unit.getFileName() + ": systemd-analyze verify warned");
        }
    }

    @Test void everyUnitVerifiesWithoutWarnings() throws Exception {
        List<Path> units = instanceCopies(ROOT.resolve("systemd"), tmp.resolve("units"), ROOT);
        List<String> names = units.stream().map(p -> p.getFileName().toString()).toList();
        assertTrue(names.containsAll(List.of("mqueue-consumer-nsq.socket", "mqueue-consumer-nsq.service",
            "mqueue-consumer-nsq@g1.socket", "mqueue-consumer-nsq@g1.service", "mqueue-wakeup.service",
            "mqueue-handler@g1.socket", "mqueue-handler@g1.service")), names.toString());
        assertVerifies(units, tmp);
    }

    @Test void socketsListenUnderRunMqueueForTheirGroup() throws Exception {
        String single = Files.readString(ROOT.resolve("systemd/mqueue-consumer-nsq.socket"));
        String template = Files.readString(ROOT.resolve("systemd/mqueue-consumer-nsq@.socket"));
        String handler = Files.readString(ROOT.resolve("systemd/mqueue-handler@.socket"));
        assertTrue(single.contains("\nListenStream=/run/mqueue/sa-consumer.sock\n"), single);
        assertTrue(template.contains("\nListenStream=/run/mqueue/%i.sock\n"), template);
        assertTrue(handler.contains("\nListenStream=/run/mqueue/%i.sock\n"), handler);
        for (String s : List.of(single, template, handler)) {
            for (String line : List.of("Accept=no", "SocketMode=0660", "SocketGroup=mqueue")) assertTrue(s.contains("\n"
                + line + "\n"), line);
        }
        try (Stream<Path> files = Files.list(ROOT.resolve("systemd"))) {
            for (Path service : files.filter(p -> p.toString().endsWith(".service")).toList()) {
                String text = Files.readString(service);
                assertFalse(text.contains("RuntimeDirectory="), service
                    + ": the socket's directory must outlive the service");
                assertFalse(text.contains("JBANG") || text.contains("jbang "), service
                    + ": a start runs no JBang of its own");
                // A user's handler may run through JBang, chosen in its env file (RUN=jbang): bin/mqueue-handler
                // decides.
                assertTrue(text.contains("ExecStart=/opt/mqueue/bin/mqueue ")
                    || service.getFileName().toString().equals("mqueue-handler@.service")
                    && text.contains("ExecStart=/opt/mqueue/bin/mqueue-handler %i "), service
                    + ": starts through bin/mqueue");
                assertFalse(text.contains("ProtectSystem=") || text.contains("User="), service
                    + ": the sandbox lives in its one drop-in");
            }
        }
    }

    @Test void everyServiceExposureAtMost2() throws Exception {
        List<Path> units = instanceCopies(ROOT.resolve("systemd"), tmp.resolve("units"), ROOT);
        int services = 0;
        for (Path unit : units) {
            if (!unit.toString().endsWith(".service")) continue;
            services++;
            Result r = run(tmp, Map.of(), "systemd-analyze", "security", "--offline=yes", "--no-pager",
                unit.toString());
            Matcher m = EXPOSURE.matcher(r.stdout() + r.stderr());
            assertTrue(m.find(), unit.getFileName() + ": no exposure level in: " + r.stdout() + r.stderr());
            double exposure = Double.parseDouble(m.group(2));
            assertTrue(exposure <= 2.0, unit.getFileName() + ": exposure " + exposure + " > 2.0\n" + r.stdout());
        }
        assertEquals(4, services);
    }

    @Test void reloadInstallsIntoTempRootAndCreatesTopicAndChannel() throws Exception {
        Path root = tmp.resolve("root");
        Result r = run(tmp, Map.of("DESTDIR", root.toString(), "STREAM", "sa-stream",
                "NSQD_HTTP_ADDRESS", nsq.httpAddress().toString(), "NSQD_TCP_ADDRESS", nsq.tcp().toString()),
            "make", "--no-print-directory", "reload-systemd-consumer");
        assertEquals(0, r.code(), "make reload-systemd-consumer failed:\n" + r.stdout() + r.stderr());
        assertTrue(r.stderr().contains("skipped systemctl daemon-reload"), r.stderr());

        for (String f : List.of("etc/systemd/system/mqueue-consumer-nsq.socket",
            "etc/systemd/system/mqueue-consumer-nsq.service",
                "etc/systemd/system/mqueue-consumer-nsq@.socket", "etc/systemd/system/mqueue-consumer-nsq@.service",
                "etc/systemd/system/mqueue-wakeup.service", "etc/systemd/system/mqueue-.service.d/sandbox.conf",
                    "etc/sysusers.d/mqueue.conf", "etc/mqueue/sa-consumer.env",
                "opt/mqueue/bin/mqueue", "opt/mqueue/build/current/consumer.jar", "opt/mqueue/build/current/wakeup.jar",
                "opt/mqueue/build/current/producer.jar")) {
            assertTrue(Files.isRegularFile(root.resolve(f)), f + " installed");
        }
        String env = Files.readString(root.resolve("etc/mqueue/sa-consumer.env"));
        assertTrue(env.contains("\nSTREAM=sa-stream\n") && env.contains("\nNSQD_TCP_ADDRESS=" + nsq.tcp() + "\n"), env);

        // Packaged: the installed launcher starts the installed jar, no build and no JBang.
        Result version = run(tmp, Map.of(), root.resolve("opt/mqueue/bin/mqueue").toString(), "consumer", "--version");
        assertEquals(0, version.code(), version.stderr());
        assertEquals("mqueue 0.1", version.stdout().strip(), version.stderr());

        // The group's channel exists before any consumer ran, so the backlog waits for it.
        NsqHttp.TopicStats topic = nsq.http().stats().topic("sa-stream");
        assertTrue(topic != null && topic.channel("sa-consumer") != null,
            "topic sa-stream with channel sa-consumer in nsqd");

        // The installed units verify too, with their paths inside the temp root.
        assertVerifies(instanceCopies(root.resolve("etc/systemd/system"), tmp.resolve("installed"),
            root.resolve("opt/mqueue")), tmp);

        // A second run keeps the admin's env file.
        Files.writeString(root.resolve("etc/mqueue/sa-consumer.env"), env + "# edited\n");
        r = run(tmp, Map.of("DESTDIR", root.toString(), "NSQD_HTTP_ADDRESS", nsq.httpAddress().toString()),
            "make", "--no-print-directory", "reload-systemd-consumer");
        assertEquals(0, r.code(), r.stderr());
        assertTrue(Files.readString(root.resolve("etc/mqueue/sa-consumer.env")).endsWith("# edited\n"),
            "env file kept");
    }

    /**
     * scripts/package racing itself, a `jbang build` of the same script and starts of the packaged tool
     * (once a `jbang build` beside a launcher's build left a jar without producer.class, and every start
     * failed after it): every packaging succeeds, every start answers, and the package still works after.
     * An outdated package (a stamp older than the sources) is packaged again; a fresh one is left alone.
     */
    @Test void packagingIsSafeWhenItRacesBuildsAndStarts() throws Exception {
        Path out = tmp.resolve("build");
        Map<String, String> env = Map.of("MQUEUE_TRAIN", "false", "MQUEUE_PACKAGE_FORCE", "1");
        Result first = run(tmp.resolve("."), env, ROOT.resolve("scripts/package").toString(), out.toString());
        assertEquals(0, first.code(), "first packaging: " + first.stderr());
        Map<String, String> app = Map.of("MQUEUE_APP", out.resolve("current").toString());

        List<Process> builds = new ArrayList<>();
        // One packaging forced, one that waits for it and then finds the package up to date, and a jbang build beside
        // them.
        for (int i = 0; i < 2; i++) {
            builds.add(start(tmp.resolve("package" + i), i == 0 ? env : Map.of("MQUEUE_TRAIN", "false"),
                ROOT.resolve("scripts/package").toString(), out.toString()));
        }
        builds.add(start(tmp.resolve("jbang"), Map.of("JBANG_CACHE_DIR", tmp.resolve("jbang-cache").toString()),
            ROOT.resolve("jbang").toString(), "build", ROOT.resolve("producer.java").toString()));
        int starts = 0;
        try {
            while (builds.stream().anyMatch(Process::isAlive)) {
                Result r = run(tmp, app, ROOT.resolve("bin/mqueue").toString(), "producer", "--version");
                assertEquals(0, r.code(), "a start while packaging failed: " + r.stderr());
                assertEquals("mqueue 0.1", r.stdout().strip(), r.stderr());
                starts++;
            }
            for (Process b : builds) assertEquals(0, b.waitFor(), "every packaging and build succeeded; logs in "
                + tmp);
        } finally {
            for (Process b : builds) {
                b.descendants().forEach(ProcessHandle::destroyForcibly);
                b.destroyForcibly();
            }
        }
        assertTrue(starts > 0, "the tool was started while packaging ran");
        for (String tool : List.of("producer", "consumer", "wakeup")) {
            Result r = run(tmp, app, ROOT.resolve("bin/mqueue").toString(), tool, "--version");
            assertEquals(0, r.code(), tool + " after the race: " + r.stderr());
        }

        Path current = out.resolve("current").toRealPath();
        Result fresh = run(tmp, Map.of("MQUEUE_TRAIN", "false"), ROOT.resolve("scripts/package").toString(),
            out.toString());
        assertEquals(0, fresh.code(), fresh.stderr());
        assertEquals(current, out.resolve("current").toRealPath(), "an up-to-date package is left alone");
        Files.setLastModifiedTime(current.resolve("stamp"), java.nio.file.attribute.FileTime.fromMillis(0));
        Result stale = run(tmp, Map.of("MQUEUE_TRAIN", "false"), ROOT.resolve("scripts/package").toString(),
            out.toString());
        assertEquals(0, stale.code(), stale.stderr());
        assertFalse(current.equals(out.resolve("current").toRealPath()),
            "sources newer than the package: packaged again");
    }

    static Process start(Path dir, Map<String, String> env, String... command) throws IOException {
        Files.createDirectories(dir);
        ProcessBuilder pb = new ProcessBuilder(command).directory(ROOT.toFile())
            .redirectOutput(dir.resolve("out.txt").toFile()).redirectError(dir.resolve("err.txt").toFile());
        pb.environment().putAll(env);
        return pb.start();
    }
}
