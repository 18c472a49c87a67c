import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import activation.WakeSocket;
import com.fasterxml.jackson.databind.JsonNode;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import util.Json;

/**
 * examples/ as a user runs them, through JBang (and the socket-activated one through its package too),
 * against real nsqd and producer.java's events: a sum, a pipeline step, the smallest handler naming the
 * front door by URL, and a handler woken on its socket. The first run of each compiles it (JBang's
 * cache), hence the generous bounds; nothing is asserted on time.
 */
@Tag("process")
class ExamplesTest {
    static final Path ROOT = NsqBinaries.repoRoot();
    static final Duration BOUND = Duration.ofSeconds(240);
    @RegisterExtension final NsqFixture nsq = new NsqFixture();

    Spawned jbang(Map<String, String> env, String script, String... args) throws IOException {
        List<String> cmd = new ArrayList<>(List.of(ROOT.resolve("jbang").toString(), script));
        cmd.addAll(List.of(args));
        return nsq.spawn(cmd, env);
    }

    /** producer.java's events, {@code n} of them, seq 1..n from one producer. */
    void events(String stream, int n) {
        InProcess p = InProcess.run(new producer(), "-s", stream, "--nsqd", nsq.tcp().toString(), "--count",
            String.valueOf(n), "--interval", "1ms");
        assertEquals(0, p.code(), p.err());
    }

    static List<String> lines(String s) { return s.isEmpty() ? List.of() : List.of(s.split("\n")); }

    @Test void sumAddsUpAFieldOfTheProducersEventsAndDeadLettersOneWithoutIt() throws Exception {
        nsq.prepare("ev", "sum");
        events("ev", 20);
        nsq.publish("ev", List.of("{\"producer\":\"other\",\"no\":\"seq\"}"));
        Spawned sum = jbang(Map.of(), "examples/sum.java", "-s", "ev", "-g", "sum", "--nsqd", nsq.tcp().toString(),
            "--count", "21",
            "--max-attempts", "1");
        assertEquals(0, sum.waitFor(BOUND), sum.stderr());
        List<String> out = lines(sum.stdout());
        assertEquals(20, out.size(), sum.stdout());
        assertEquals("ev seq total 210", out.get(out.size() - 1), "1 + 2 + ... + 20");
        assertTrue(sum.stderr()
            .contains("failed 1 times (last: IllegalArgumentException: no number at seq); moved to stream ev.dead"),
            sum.stderr());
        assertTrue(sum.stderr().contains("summary: received=21 finished=20 requeued=0 dead-lettered=1"), sum.stderr());
    }

    @Test void pipePublishesEachEventOnToTheNextStreamBeforeItIsFinished() throws Exception {
        nsq.prepare("raw", "pipe");
        nsq.prepare("summaries", "check");
        events("raw", 10);
        Spawned pipe = jbang(Map.of(), "examples/pipe.java", "-s", "raw", "-g", "pipe", "--nsqd", nsq.tcp().toString(),
            "--to", "summaries",
            "--count", "10", "--concurrency", "3");
        assertEquals(0, pipe.waitFor(BOUND), pipe.stderr());
        Set<Integer> seqs = new HashSet<>();
        try (ChannelReader next = new ChannelReader(nsq.tcp(), "summaries", "check")) {
            for (ChannelReader.Message m : next.take(10, Duration.ofSeconds(30))) {
                JsonNode j = Json.MAPPER.readTree(m.body());
                seqs.add(j.get("seq").asInt());
                assertTrue(j.get("bytes").asInt() > 100, m.text());
                assertTrue(j.get("producer").asText().endsWith(":0"), m.text());
            }
        }
        assertEquals(Set.of(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), seqs);
        assertEquals(0, nsq.channel("raw", "pipe").depth() + nsq.channel("raw", "pipe").inFlightCount());
    }

    /**
     * The smallest handler naming the front door by URL: JBang fetches lib/Nsq.java and every file it names (no
     * glob can be expanded over HTTP) from a loopback server on 127.0.0.2, which JBang does not trust by default:
     * a local script's //SOURCES by URL needs no `jbang trust` (running a script by URL would). A fresh JBang cache,
     * so the fetch is real.
     */
    @Test void helloNamesTheFrontDoorByUrlAndGetsEverythingThroughIt() throws Exception {
        Set<String> served = ConcurrentHashMap.newKeySet();
        HttpServer http = HttpServer.create(new InetSocketAddress(InetAddress.getByName("127.0.0.2"), 0), 16);
        http.createContext("/", ex -> {
            Path file = ROOT.resolve(ex.getRequestURI().getPath().substring(1)).normalize();
            boolean ok = file.startsWith(ROOT.resolve("lib")) && Files.isRegularFile(file);
            byte[] body = ok ? Files.readAllBytes(file) : new byte[0];
            if (ok) served.add(ROOT.relativize(file).toString());
            ex.sendResponseHeaders(ok ? 200 : 404, ok ? body.length : -1);
            try (OutputStream o = ex.getResponseBody()) {
                o.write(body);
            }
        });
        http.start();
        try {
            String url = "http://127.0.0.2:" + http.getAddress().getPort() + "/lib/Nsq.java";
            Path dir = Files.createDirectories(nsq.dir().resolve("user"));
            Path script = dir.resolve("hello.java");
            Files.writeString(script,
                Files.readString(ROOT.resolve("examples/hello.java")).replace("//SOURCES ../lib/Nsq.java", "//SOURCES "
                + url));
            nsq.prepare("u", "g");
            nsq.publish("u", List.of("one", "two"));
            Spawned hello = jbang(Map.of("JBANG_CACHE_DIR", dir.resolve("jbang-cache").toString()), script.toString(),
                "-s", "u", "-g", "g", "--nsqd", nsq.tcp().toString(), "--count", "2");
            assertEquals(0, hello.waitFor(BOUND), hello.stderr());
            assertEquals(Set.of("one", "two"), new HashSet<>(lines(hello.stdout())));
            Set<String> expected = new HashSet<>(LayoutTest.sourcedFiles(ROOT.resolve("lib/Nsq.java")));
            expected.add("lib/Nsq.java");
            assertEquals(expected, served, "the front door and each file it names, fetched by URL");
        } finally {
            http.stop(0);
        }
    }

    /**
     * A handler behind its socket, as the unit runs it (systemd-socket-activate is the stand-in; SystemdHandlerTest
     * has systemd itself): nothing runs until a wake, which starts it; it handles what waits and exits when idle.
     * Both ways a unit can start it, at once: through JBang, and through the package scripts/package makes for it.
     */
    @Test void sumRunsSocketActivatedThroughJBangAndThroughItsPackage() throws Exception {
        Path pkg = nsq.dir().resolve("pkg");
        // Untrained, to keep the suite lean: SystemdHandlerTest has the training run (and its AOT cache) checked.
        Spawned packaging = nsq.spawn(List.of(ROOT.resolve("scripts/package").toString(), pkg.toString(),
            "examples/sum.java"),
            Map.of("MQUEUE_TRAIN", "false"));
        CompletableFuture<Void> viaJBang = CompletableFuture.runAsync(() -> wakeAndHandle("jb",
            List.of(ROOT.resolve("jbang").toString(),
            ROOT.resolve("examples/sum.java").toString()), Map.of()));
        assertEquals(0, packaging.waitFor(Duration.ofMinutes(5)), packaging.stderr());
        assertTrue(Files.isRegularFile(pkg.resolve("current/sum.jar")), "the package has the script's jar");
        wakeAndHandle("pk", List.of(ROOT.resolve("bin/mqueue").toString(), "sum"), Map.of("MQUEUE_APP",
            pkg.resolve("current").toString()));
        viaJBang.join();
    }

    private void wakeAndHandle(String group, List<String> start, Map<String, String> env) {
        try {
            String stream = "sa-" + group;
            nsq.prepare(stream, group);
            Path socket = nsq.dir().resolve(group + ".sock");
            List<String> cmd = new ArrayList<>(List.of("systemd-socket-activate", "-l", socket.toString(), "-E",
                "LANG=C.UTF-8",
                "-E", "PATH", "-E", "HOME"));
            for (String k : env.keySet()) cmd.addAll(List.of("-E", k));
            cmd.add("--");
            cmd.addAll(start);
            cmd.addAll(List.of("-s", stream, "-g", group, "--nsqd", nsq.tcp().toString(), "--timeout", "2",
                "--socket-activation"));
            Spawned sa = nsq.spawn(cmd, env);
            Await.until(group + ": systemd-socket-activate listens", BOUND, () -> Files.exists(socket));
            events(stream, 3);
            Duration woken = WakeSocket.wake(socket, new WakeSocket.Wake(stream, group), BOUND);
            System.out.printf("%s: woken through %s, 'ok' after %d ms%n", group, start.get(0), woken.toMillis());
            assertEquals(0, sa.waitFor(BOUND), group + ": exits 0 when idle: " + sa.stderr());
            assertEquals("sa-" + group + " seq total 6", lines(sa.stdout()).get(2), sa.stdout());
            assertTrue(sa.stderr().contains("no message for 2s: exiting"), sa.stderr());
        } catch (IOException | InterruptedException e) {
            throw new IllegalStateException(group + ": " + e, e);
        }
    }
}
