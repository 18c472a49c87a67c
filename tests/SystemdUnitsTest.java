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
            "mqueue-consumer-nsq@g1.socket", "mqueue-consumer-nsq@g1.service", "mqueue-wakeup.service")), names.toString());
        assertVerifies(units, tmp);
    }

    @Test void socketsListenUnderRunMqueueForTheirGroup() throws Exception {
        String single = Files.readString(ROOT.resolve("systemd/mqueue-consumer-nsq.socket"));
        String template = Files.readString(ROOT.resolve("systemd/mqueue-consumer-nsq@.socket"));
        assertTrue(single.contains("\nListenStream=/run/mqueue/sa-consumer.sock\n"), single);
        assertTrue(template.contains("\nListenStream=/run/mqueue/%i.sock\n"), template);
        for (String s : List.of(single, template)) {
            for (String line : List.of("Accept=no", "SocketMode=0660", "SocketGroup=mqueue")) assertTrue(s.contains("\n" + line + "\n"), line);
        }
        try (Stream<Path> files = Files.list(ROOT.resolve("systemd"))) {
            for (Path service : files.filter(p -> p.toString().endsWith(".service")).toList()) {
                String text = Files.readString(service);
                assertFalse(text.contains("RuntimeDirectory="), service + ": the socket's directory must outlive the service");
                assertTrue(text.contains("\nCacheDirectory=mqueue\n") && text.contains("JBANG_OFFLINE=true"), service.toString());
                assertTrue(text.contains("ExecStart=/opt/mqueue/bin/mqueue-run "), service + ": starts through bin/mqueue-run");
            }
        }
    }

    @Test void everyServiceExposureAtMost2() throws Exception {
        List<Path> units = instanceCopies(ROOT.resolve("systemd"), tmp.resolve("units"), ROOT);
        int services = 0;
        for (Path unit : units) {
            if (!unit.toString().endsWith(".service")) continue;
            services++;
            Result r = run(tmp, Map.of(), "systemd-analyze", "security", "--offline=yes", "--no-pager", unit.toString());
            Matcher m = EXPOSURE.matcher(r.stdout() + r.stderr());
            assertTrue(m.find(), unit.getFileName() + ": no exposure level in: " + r.stdout() + r.stderr());
            double exposure = Double.parseDouble(m.group(2));
            assertTrue(exposure <= 2.0, unit.getFileName() + ": exposure " + exposure + " > 2.0\n" + r.stdout());
        }
        assertEquals(3, services);
    }

    @Test void reloadInstallsIntoTempRootAndCreatesTopicAndChannel() throws Exception {
        Path root = tmp.resolve("root");
        Result r = run(tmp, Map.of("DESTDIR", root.toString(), "STREAM", "sa-stream",
                "NSQD_HTTP_ADDRESS", nsq.httpAddress().toString(), "NSQD_TCP_ADDRESS", nsq.tcp().toString()),
            "make", "--no-print-directory", "reload-systemd-consumer");
        assertEquals(0, r.code(), "make reload-systemd-consumer failed:\n" + r.stdout() + r.stderr());
        assertTrue(r.stderr().contains("skipped systemctl daemon-reload"), r.stderr());

        for (String f : List.of("etc/systemd/system/mqueue-consumer-nsq.socket", "etc/systemd/system/mqueue-consumer-nsq.service",
                "etc/systemd/system/mqueue-consumer-nsq@.socket", "etc/systemd/system/mqueue-consumer-nsq@.service",
                "etc/systemd/system/mqueue-wakeup.service", "etc/sysusers.d/mqueue.conf", "etc/mqueue/sa-consumer.env",
                "opt/mqueue/bin/mqueue-run", "opt/mqueue/consumer.java", "opt/mqueue/wakeup.java", "opt/mqueue/lib/activation/WakeSocket.java")) {
            assertTrue(Files.isRegularFile(root.resolve(f)), f + " installed");
        }
        String env = Files.readString(root.resolve("etc/mqueue/sa-consumer.env"));
        assertTrue(env.contains("\nSTREAM=sa-stream\n") && env.contains("\nNSQD_TCP_ADDRESS=" + nsq.tcp() + "\n"), env);

        // Prebuilt: a launcher record per script in the units' cache, so a start needs no network.
        try (Stream<Path> records = Files.list(root.resolve("var/cache/mqueue/run"))) {
            List<String> names = records.map(p -> p.getFileName().toString()).toList();
            assertTrue(names.stream().anyMatch(n -> n.startsWith("consumer-") && n.endsWith(".run")), names.toString());
            assertTrue(names.stream().anyMatch(n -> n.startsWith("wakeup-") && n.endsWith(".run")), names.toString());
        }

        // The group's channel exists before any consumer ran, so the backlog waits for it.
        NsqHttp.TopicStats topic = nsq.http().stats().topic("sa-stream");
        assertTrue(topic != null && topic.channel("sa-consumer") != null, "topic sa-stream with channel sa-consumer in nsqd");

        // The installed units verify too, with their paths inside the temp root.
        assertVerifies(instanceCopies(root.resolve("etc/systemd/system"), tmp.resolve("installed"), root.resolve("opt/mqueue")), tmp);

        // A second run keeps the admin's env file.
        Files.writeString(root.resolve("etc/mqueue/sa-consumer.env"), env + "# edited\n");
        r = run(tmp, Map.of("DESTDIR", root.toString(), "NSQD_HTTP_ADDRESS", nsq.httpAddress().toString()),
            "make", "--no-print-directory", "reload-systemd-consumer");
        assertEquals(0, r.code(), r.stderr());
        assertTrue(Files.readString(root.resolve("etc/mqueue/sa-consumer.env")).endsWith("# edited\n"), "env file kept");
    }

    @Test void launcherRebuildsWhenASourceChanges() throws Exception {
        // A small project of its own (launcher + one lib file), so editing the lib file touches nothing real.
        Path copy = tmp.resolve("copy");
        Files.createDirectories(copy.resolve("bin"));
        Files.createDirectories(copy.resolve("lib"));
        Files.copy(ROOT.resolve("bin/mqueue-run"), copy.resolve("bin/mqueue-run"));
        Files.copy(ROOT.resolve("jbang"), copy.resolve("jbang"));
        Files.writeString(copy.resolve("hello.java"), "//SOURCES lib/*.java\n"
            + "public class hello { public static void main(String[] a) { System.out.println(Greeting.TEXT); } }\n");
        Files.writeString(copy.resolve("lib/Greeting.java"), "final class Greeting { static final String TEXT = \"one\"; }\n");
        Map<String, String> env = Map.of("MQUEUE_RUN_CACHE", tmp.resolve("run").toString());
        Result first = run(tmp, env, copy.resolve("bin/mqueue-run").toString(), copy.resolve("hello.java").toString());
        assertEquals("one", first.stdout().strip(), first.stderr());
        Files.writeString(copy.resolve("lib/Greeting.java"), "final class Greeting { static final String TEXT = \"two\"; }\n");
        Result second = run(tmp, env, copy.resolve("bin/mqueue-run").toString(), copy.resolve("hello.java").toString());
        assertEquals("two", second.stdout().strip(), "a changed //SOURCES file is a cache miss: " + second.stderr());
        try (Stream<Path> records = Files.list(tmp.resolve("run"))) {
            assertEquals(2, records.filter(p -> p.toString().endsWith(".run")).count(), "one record per source state");
        }
    }
}
