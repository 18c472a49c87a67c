import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import activation.WakeSocket;
import cli.Cli;
import java.io.ByteArrayOutputStream;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import nsq.HostPort;
import nsq.NsqConfig;
import nsq.http.NsqHttp;
import nsq.publish.Publisher;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import picocli.CommandLine;
import util.Json;

/** consumer.java against real nsqd, in-process where possible (a test can stop it and read its counters). */
class ConsumerTest {
    @RegisterExtension final NsqFixture nsq = new NsqFixture().withLookupd().nsqds(2);

    String[] args(String stream, String group, String... more) {
        List<String> a = new ArrayList<>(List.of("--nsqd", nsq.tcp().toString(), "-s", stream, "-g", group));
        a.addAll(List.of(more));
        return a.toArray(new String[0]);
    }

    @Test void fanOutEveryGroupGetsEverything() throws Exception {
        nsq.prepare("fan", "g1", "g2");
        List<String> sent = NsqFixture.bodies("fan-", 200);
        nsq.publish("fan", sent);
        ConsumerRun g1 = new ConsumerRun(args("fan", "g1", "--count", "200")), g2 = new ConsumerRun(args("fan", "g2",
            "--count", "200"));
        assertEquals(0, g1.await(Duration.ofSeconds(30)));
        assertEquals(0, g2.await(Duration.ofSeconds(30)));
        assertEquals(new HashSet<>(sent), new HashSet<>(g1.lines()));
        assertEquals(new HashSet<>(sent), new HashSet<>(g2.lines()));
        assertEquals(200, g1.finished());
    }

    @Test void sameGroupSplitsWithoutLoss() throws Exception {
        nsq.prepare("split", "g");
        ConsumerRun a = new ConsumerRun(args("split", "g", "--max-in-flight", "5")), b = new ConsumerRun(args("split",
            "g", "--max-in-flight", "5"));
        Await.until("both subscribed", Duration.ofSeconds(20), () -> nsq.channel("split", "g").clientCount() == 2);
        List<String> sent = NsqFixture.bodies("split-", 400);
        nsq.publish("split", sent);
        Await.until("400 between them", Duration.ofSeconds(30), () -> a.lines().size() + b.lines().size() >= 400);
        assertEquals(0, a.stop());
        assertEquals(0, b.stop());
        List<String> all = new ArrayList<>(a.lines());
        all.addAll(b.lines());
        assertEquals(new HashSet<>(sent), new HashSet<>(all), "no loss");
        assertTrue(a.lines().size() > 0 && b.lines().size() > 0, "each a share: " + a.lines().size() + "/"
            + b.lines().size());
        assertEquals(0, nsq.channel("split", "g").inFlightCount());
    }

    @Test void connectionsOpensSeveralToEachNsqdAndLosesNothing() throws Exception {
        nsq.prepare("conns", "g");
        ConsumerRun c = new ConsumerRun(args("conns", "g", "--connections", "3"));
        Await.until("3 connections to the one nsqd", Duration.ofSeconds(20), () -> nsq.channel("conns",
            "g").clientCount() == 3);
        List<String> sent = NsqFixture.bodies("conns-", 3000);
        nsq.publish("conns", sent);
        Await.until("3000 printed", Duration.ofSeconds(30), () -> c.lines().size() >= 3000);
        assertEquals(0, c.stop());
        assertEquals(sent.size(), c.lines().size(), "each once");
        assertEquals(new HashSet<>(sent), new HashSet<>(c.lines()));
        NsqHttp.ChannelStats stats = nsq.channel("conns", "g");
        assertEquals(0, stats.requeueCount() + stats.timeoutCount() + stats.inFlightCount() + stats.depth(),
            "all finished, first time: " + stats);
    }

    @Test void idleTimeoutExitsButNotWhileAHandlerRuns() throws Exception {
        nsq.prepare("idle", "g");
        ConsumerRun quiet = new ConsumerRun(args("idle", "g", "--timeout", "2"));
        assertEquals(0, quiet.await(Duration.ofSeconds(20)));
        assertTrue(quiet.ran().toMillis() >= 2000, "idle for 2 s first: " + quiet.ran().toMillis());

        nsq.publish("idle", List.of("slow"));
        ConsumerRun slow = new ConsumerRun(args("idle", "g", "--timeout", "1", "--exec", "sleep 3"));
        assertEquals(0, slow.await(Duration.ofSeconds(30)));
        assertEquals(1, slow.finished(), "the 3 s command finished despite a 1 s idle timeout");
        assertEquals(0, slow.requeued());
        assertTrue(slow.ran().toMillis() >= 3000, "ran " + slow.ran().toMillis());
        assertEquals(0, nsq.channel("idle", "g").depth());
    }

    @Test void countStopsAndLeavesTheRest() throws Exception {
        nsq.prepare("count", "g");
        nsq.publish("count", NsqFixture.bodies("c", 30));
        ConsumerRun r = new ConsumerRun(args("count", "g", "--count", "10", "--format", "json"));
        assertEquals(0, r.await(Duration.ofSeconds(20)));
        assertEquals(10, r.lines().size());
        assertEquals(10, r.finished());
        var first = Json.MAPPER.readTree(r.lines().get(0));
        assertEquals("count", first.get("stream").asText());
        assertEquals("g", first.get("group").asText());
        assertEquals(1, first.get("attempts").asInt());
        assertTrue(first.get("body").asText().startsWith("c"));
        assertEquals(16, first.get("id").asText().length());
        NsqHttp.ChannelStats after = nsq.channel("count", "g");
        assertEquals(20, after.depth());
        assertEquals(0, after.inFlightCount());
    }

    @Test void jsonMarksBinaryBodies() throws Exception {
        nsq.prepare("bin", "g");
        byte[] binary = {(byte) 0xff, 0, (byte) 0xfe, 10};
        try (Publisher pub = new Publisher(nsq.tcp(), NsqConfig.defaults())) {
            pub.publish("bin", binary);
        }
        ConsumerRun r = new ConsumerRun(args("bin", "g", "--count", "1", "--format", "json"));
        assertEquals(0, r.await(Duration.ofSeconds(20)));
        var j = Json.MAPPER.readTree(r.lines().get(0));
        assertTrue(j.get("body_base64").asBoolean());
        assertTrue(Arrays.equals(binary, java.util.Base64.getDecoder().decode(j.get("body").asText())));
    }

    @Test void execExitCodesMapToFinAndRequeue() throws Exception {
        nsq.prepare("exec", "g");
        nsq.publish("exec", List.of("a", "b"));
        Path log = nsq.dir().resolve("exec.log");
        // Fails on the first attempt, succeeds on the second; records what it saw.
        String cmd = "echo \"$MQ_STREAM $MQ_GROUP $MQ_ID $MQ_ATTEMPTS $(cat)\" >> " + log
            + "; [ \"$MQ_ATTEMPTS\" -ge 2 ]";
        ConsumerRun r = new ConsumerRun(args("exec", "g", "--exec", cmd, "--backoff", "100ms/1s", "--count", "2"));
        assertEquals(0, r.await(Duration.ofSeconds(30)));
        assertEquals(2, r.finished());
        assertEquals(2, r.requeued());
        List<String> seen = Files.readAllLines(log);
        assertEquals(4, seen.size(), seen.toString());
        Set<String> firsts = new HashSet<>(), seconds = new HashSet<>();
        for (String line : seen) {
            String[] f = line.split(" ");
            assertEquals("exec", f[0]);
            assertEquals("g", f[1]);
            assertEquals(16, f[2].length());
            (f[3].equals("1") ? firsts : seconds).add(f[4]);
        }
        assertEquals(Set.of("a", "b"), firsts);
        assertEquals(Set.of("a", "b"), seconds);
        assertEquals(0, nsq.channel("exec", "g").depth());
    }

    @Test void failingCommandEndsInTheDeadLetterStream() throws Exception {
        nsq.prepare("dl", "g");
        nsq.prepare("dl.dead", "inspect");
        byte[] binary = {1, 2, (byte) 0xff, 3};
        try (Publisher pub = new Publisher(nsq.tcp(), NsqConfig.defaults())) {
            pub.publish("dl", "{\"keep\": \"me intact\"}".getBytes(StandardCharsets.UTF_8));
            pub.publish("dl", binary);
        }
        ConsumerRun r = new ConsumerRun(args("dl", "g", "--exec", "cat >/dev/null; exit 3", "--max-attempts", "3",
            "--backoff", "50ms/200ms", "--count", "2"));
        assertEquals(0, r.await(Duration.ofSeconds(30)));
        assertEquals(2, r.deadLettered());
        assertEquals(0, r.finished());
        assertEquals(4, r.requeued(), "two failures each before the third goes to the dead letters");
        assertEquals(0, nsq.channel("dl", "g").depth());

        ConsumerRun dead = new ConsumerRun(args("dl.dead", "inspect", "--count", "2"));
        assertEquals(0, dead.await(Duration.ofSeconds(20)));
        Map<String, com.fasterxml.jackson.databind.JsonNode> byKind = new java.util.HashMap<>();
        for (String line : dead.lines()) {
            var j = Json.MAPPER.readTree(line);
            assertEquals("dl", j.get("stream").asText());
            assertEquals(3, j.get("attempts").asInt());
            assertEquals("exit status 3", j.get("last_error").asText());
            assertEquals(16, j.get("id").asText().length());
            assertTrue(j.get("ts_ns").asLong() > 0);
            byKind.put(j.has("body_base64") ? "binary" : "text", j);
        }
        assertEquals("{\"keep\": \"me intact\"}", byKind.get("text").get("body").asText());
        assertTrue(Arrays.equals(binary,
            java.util.Base64.getDecoder().decode(byKind.get("binary").get("body").asText())));
    }

    /** The envelope would exceed nsqd's --max-msg-size (1 MiB): the body goes as it is, the metadata to the log. */
    @Test void deadLetterOverMaxSizeGoesAsTheBareBody() throws Exception {
        nsq.prepare("dlbig", "g");
        nsq.prepare("dlbig.dead", "inspect");
        byte[] big = new byte[1024 * 1024 - 100];
        Arrays.fill(big, (byte) 'a');
        try (Publisher pub = new Publisher(nsq.tcp(), NsqConfig.defaults())) {
            pub.publish("dlbig", big);
        }
        ConsumerRun r = new ConsumerRun(args("dlbig", "g", "--exec", "cat >/dev/null; exit 1", "--max-attempts", "1",
            "--count", "1"));
        assertEquals(0, r.await(Duration.ofSeconds(30)));
        assertEquals(1, r.deadLettered());
        assertEquals(1, r.received(), "moved on the first failure, not requeued");
        NsqHttp.ChannelStats dead = nsq.channel("dlbig.dead", "inspect");
        assertEquals(1, dead.depth(), "the bare body is in the dead-letter stream");
        assertEquals(0, nsq.channel("dlbig", "g").depth() + nsq.channel("dlbig", "g").deferredCount());
    }

    @Test void verifyCountsGapsAndDuplicates() throws Exception {
        nsq.prepare("ver", "g");
        List<String> events = new ArrayList<>();
        for (int seq : new int[] {1, 2, 3, 5, 5, 6}) {
            events.add("{\"stream\":\"ver\",\"producer\":\"h:1:0\",\"seq\":" + seq + ",\"ts_ns\":1,\"payload\":{}}");
        }
        events.add("{\"stream\":\"ver\",\"producer\":\"h:2:0\",\"seq\":4,\"ts_ns\":1,\"payload\":{}}");
        events.add("not an event");
        nsq.publish("ver", events);
        ConsumerRun r = new ConsumerRun(args("ver", "g", "--count", "8", "--verify"));
        assertEquals(0, r.await(Duration.ofSeconds(20)));
        assertEquals(1, r.verifier().duplicates());
        assertEquals(1, r.verifier().gaps());
        assertEquals(3, r.verifier().missingAtStart(), "h:2:0 starts at 1 like every producer: 1..3 are missing");
        List<String> report = r.verifier().report();
        assertTrue(report.contains("producer h:1:0 count=6 highest=6 missing-at-start=0 gaps=1 duplicates=1"),
            report.toString());
        assertTrue(report.contains("producer h:2:0 count=1 highest=4 missing-at-start=3 gaps=0 duplicates=0"),
            report.toString());
        assertTrue(report.contains("1 message(s) were not producer.java events"), report.toString());
    }

    @Test void stopDrainsAndRequeuesForTheNextConsumerAtOnce() throws Exception {
        nsq.prepare("drain", "g");
        nsq.publish("drain", NsqFixture.bodies("d", 10));
        Path done = nsq.dir().resolve("done.log");
        // One slow command at a time, four more messages waiting in flight.
        ConsumerRun first = new ConsumerRun(args("drain", "g", "--exec", "sleep 1; cat >> " + done + "; echo >> "
            + done,
            "--max-in-flight", "5"));
        Await.until("5 in flight at nsqd", Duration.ofSeconds(20), () -> nsq.channel("drain",
            "g").inFlightCount() == 5);
        assertEquals(0, first.stop());
        NsqHttp.ChannelStats after = nsq.channel("drain", "g");
        assertEquals(0, after.inFlightCount(), "nothing left for msg-timeout");
        long finished = first.finished();
        assertTrue(finished >= 1, "the running command finished");
        assertEquals(10 - finished, after.depth());
        // The default msg-timeout is 60 s: getting them within 15 s proves they were requeued, not timed out.
        ConsumerRun next = new ConsumerRun(args("drain", "g", "--count", String.valueOf(10 - finished)));
        assertEquals(0, next.await(Duration.ofSeconds(15)));
        Set<String> all = new HashSet<>(next.lines());
        Files.readAllLines(done).stream().filter(l -> !l.isEmpty()).forEach(all::add);
        assertEquals(new HashSet<>(NsqFixture.bodies("d", 10)), all);
    }

    @Test void drainTimeoutKillsARunningCommandAndRequeuesItsMessage() throws Exception {
        nsq.prepare("stuck", "g");
        nsq.publish("stuck", List.of("s"));
        ConsumerRun r = new ConsumerRun(args("stuck", "g", "--exec", "sleep 60", "--drain-timeout", "500ms"));
        Await.until("the command runs", Duration.ofSeconds(20), () -> nsq.channel("stuck", "g").inFlightCount() == 1);
        assertEquals(0, r.stop());
        assertTrue(r.ran().toMillis() < 20_000, "did not wait for the 60 s command: " + r.ran().toMillis());
        assertEquals(1, r.requeued());
        NsqHttp.ChannelStats after = nsq.channel("stuck", "g");
        assertEquals(0, after.inFlightCount());
        assertEquals(1, after.depth(), "requeued with no delay");
    }

    @Test void sigtermDrainsExits0AndTheNextConsumerGetsTheRestAtOnce() throws Exception {
        nsq.prepare("term", "g");
        nsq.publish("term", NsqFixture.bodies("t", 10));
        Spawned p = nsq.spawn(Spawned.java("consumer", args("term", "g", "--exec", "sleep 1; cat; echo",
            "--max-in-flight", "5")), Map.of());
        Await.until("5 in flight at nsqd", Duration.ofSeconds(30), () -> nsq.channel("term", "g").inFlightCount() == 5);
        p.signal("TERM");
        assertEquals(0, p.waitFor(Duration.ofSeconds(30)), p.stderr());
        assertTrue(p.stderr().contains("summary: received="), p.stderr());
        NsqHttp.ChannelStats after = nsq.channel("term", "g");
        assertEquals(0, after.inFlightCount(), "nothing left for msg-timeout");
        List<String> done = p.stdout().lines().filter(l -> !l.isEmpty()).collect(Collectors.toList());
        assertFalse(done.isEmpty(), "the running command was allowed to finish");
        assertEquals(10 - done.size(), after.depth());
        ConsumerRun next = new ConsumerRun(args("term", "g", "--count", String.valueOf(10 - done.size())));
        assertEquals(0, next.await(Duration.ofSeconds(15)), "within 15 s, far below the 60 s msg-timeout");
        Set<String> all = new HashSet<>(done);
        all.addAll(next.lines());
        assertEquals(new HashSet<>(NsqFixture.bodies("t", 10)), all);
    }

    /** The seed's command: `STREAM=foo GROUP=1 TIMEOUT=... make consumer`, everything from the environment. */
    @Test void makeConsumerTakesStreamGroupAndTimeoutFromTheEnvironment() throws Exception {
        Packaged.ensure();
        nsq.prepare("foo", "1");
        nsq.publish("foo", NsqFixture.bodies("f", 5));
        Spawned make = nsq.spawn(List.of("make", "-s", "consumer"), Map.of("STREAM", "foo", "GROUP", "1", "TIMEOUT",
            "2",
            "NSQD_TCP_ADDRESS", nsq.tcp().toString()));
        assertEquals(0, make.waitFor(Duration.ofSeconds(120)), make.stderr());
        assertEquals(new HashSet<>(NsqFixture.bodies("f", 5)), new HashSet<>(make.stdout().lines().toList()));
        assertTrue(make.stderr().contains("exiting after 2s idle"), make.stderr());
    }

    /**
     * Issue 24: the packaged consumer's options are declared in code, so a start makes no class for an annotation
     * (picocli reads annotations through dynamic proxies, which no AOT cache holds: ~40 ms of every cold wake).
     */
    @Test void thePackagedConsumerStartsWithoutReadingAnnotations() throws Exception {
        Packaged.ensure();
        nsq.prepare("noproxy", "g");
        nsq.publish("noproxy", NsqFixture.bodies("p", 3));
        Path classes = Files.createTempFile("consumer-classes", ".log");
        try {
            Spawned c = nsq.spawn(List.of("bin/mqueue", "consumer", "-s", "noproxy", "-g", "g", "--count", "3",
                "--nsqd", nsq.tcp().toString()), Map.of("JAVA_OPTS", "-Xlog:class+load:file=" + classes));
            assertEquals(0, c.waitFor(Duration.ofSeconds(60)), c.stderr());
            assertEquals(new HashSet<>(NsqFixture.bodies("p", 3)), new HashSet<>(c.stdout().lines().toList()));
            List<String> loaded = Files.readAllLines(classes);
            assertTrue(loaded.stream().anyMatch(l -> l.contains(" picocli.CommandLine ")), "the log lists classes");
            assertEquals(List.of(), loaded.stream().filter(l -> l.contains("__dynamic_proxy__")).toList());
        } finally {
            Files.deleteIfExists(classes);
        }
    }

    @Test void reconnectsAfterNsqdRestart() throws Exception {
        nsq.prepare("restart", "g");
        ConsumerRun r = new ConsumerRun(args("restart", "g"));
        nsq.publish("restart", NsqFixture.bodies("r", 10));
        Await.until("first 10", Duration.ofSeconds(20), () -> r.lines().size() == 10);
        nsq.nsqd().restart();
        nsq.publish("restart", NsqFixture.bodies("s", 10));
        Await.until("10 more after the restart", Duration.ofSeconds(30), () -> r.lines().size() == 20);
        assertEquals(0, r.stop());
        Set<String> want = new HashSet<>(NsqFixture.bodies("r", 10));
        want.addAll(NsqFixture.bodies("s", 10));
        assertEquals(want, new HashSet<>(r.lines()));
    }

    @Test void lookupdFindsBothNodes() throws Exception {
        for (int i = 0; i < 2; i++) {
            nsq.nsqd(i).prepare("both", "g");
            nsq.nsqd(i).publish("both", NsqFixture.bodies("n" + i + "-", 10));
        }
        ConsumerRun r = new ConsumerRun("--lookupd", nsq.lookupd().httpAddress().toString(), "--lookupd-interval",
            "300ms",
            "-s", "both", "-g", "g", "--count", "20");
        assertEquals(0, r.await(Duration.ofSeconds(30)));
        Set<String> want = new HashSet<>(NsqFixture.bodies("n0-", 10));
        want.addAll(NsqFixture.bodies("n1-", 10));
        assertEquals(want, new HashSet<>(r.lines()));
    }

    /** Socket-activated (a listener injected): a wake counts as activity, and the idle timeout defaults to 30 s. */
    @Test void wakesCountAsActivityAndTheDefaultTimeoutIs30s() throws Exception {
        Path sock = nsq.dir().resolve("g.sock");
        try (WakeSocket.Listener listener = WakeSocket.Listener.bind(sock)) {
            ConsumerRun defaults = new ConsumerRun(x -> x.listener(listener), args("sa", "g"));
            Await.until("running", Duration.ofSeconds(20), () -> defaults.idleTimeout() != null);
            assertEquals(Duration.ofSeconds(30), defaults.idleTimeout());
            assertEquals(0, defaults.stop());

            ConsumerRun r = new ConsumerRun(x -> x.listener(listener), args("sa", "g", "--timeout", "2"));
            Await.until("accepting wakes", Duration.ofSeconds(20), () -> r.idleTimeout() != null);
            // Wakes every 0.5 s for 4 s: a 2 s idle timeout must not fire in between.
            long until = System.nanoTime() + Duration.ofSeconds(4).toNanos(), lastWake = 0;
            while (System.nanoTime() < until) {
                WakeSocket.wake(sock, new WakeSocket.Wake("sa", "g"), Duration.ofSeconds(5));
                lastWake = System.nanoTime();
                assertTrue(r.thread.isAlive(), "a wake keeps it running");
                Thread.sleep(500); // pacing the wakes, not synchronisation
            }
            assertEquals(0, r.await(Duration.ofSeconds(20)));
            assertTrue(r.endedNanos - lastWake >= Duration.ofMillis(1800).toNanos(),
                "exited a timeout after the last wake");
            assertTrue(listener.wakes() >= 8);
        }
    }

    /**
     * Woken for a backlog (the wakeup's scan found messages waiting): once they are done, it exits after
     * --backlog-linger, not after --timeout. A hundred groups woken at once after maintenance are then not a hundred
     * JVMs kept for 30 s.
     */
    @Test void wokenForABacklogItExitsAfterTheLingerOnceTheGroupIsEmpty() throws Exception {
        nsq.prepare("lb", "g");
        nsq.publish("lb", 20);
        Path sock = nsq.dir().resolve("lb.sock");
        try (WakeSocket.Listener listener = WakeSocket.Listener.bind(sock)) {
            ConsumerRun r = new ConsumerRun(x -> x.listener(listener),
                args("lb", "g", "--timeout", "10m", "--backlog-linger", "300ms"));
            Await.until("accepting wakes", Duration.ofSeconds(20), () -> r.idleTimeout() != null);
            WakeSocket.wake(sock, new WakeSocket.Wake("lb", "g", true), Duration.ofSeconds(5));
            assertEquals(0, r.await(Duration.ofMinutes(1)), "exits long before its 10 minutes of --timeout");
            assertEquals(NsqFixture.bodies("m", 20), r.lines());
            assertEquals(Duration.ofMinutes(10), r.idleTimeout(), "the linger did not replace --timeout");
        }
    }

    /**
     * The idle promise: a consumer woken for a backlog that is then woken for a fresh publish keeps its whole --timeout
     * from there, so the next publish finds it running; and one started by a fresh publish never lingers.
     */
    @Test void aWakeForAFreshPublishKeepsTheWholeTimeout() throws Exception {
        nsq.prepare("lf", "g");
        nsq.publish("lf", 5);
        Path sock = nsq.dir().resolve("lf.sock");
        try (WakeSocket.Listener listener = WakeSocket.Listener.bind(sock)) {
            ConsumerRun r = new ConsumerRun(x -> x.listener(listener),
                args("lf", "g", "--timeout", "3s", "--backlog-linger", "200ms"));
            Await.until("accepting wakes", Duration.ofSeconds(20), () -> r.idleTimeout() != null);
            WakeSocket.wake(sock, new WakeSocket.Wake("lf", "g", true), Duration.ofSeconds(5));
            nsq.publish("lf", List.of("fresh"));
            WakeSocket.wake(sock, new WakeSocket.Wake("lf", "g"), Duration.ofSeconds(5));
            long fresh = System.nanoTime();
            Await.until("all six printed", Duration.ofSeconds(20), () -> r.lines().size() == 6);
            assertEquals(0, r.await(Duration.ofSeconds(30)));
            assertTrue(r.endedNanos - fresh >= Duration.ofMillis(2800).toNanos(),
                "kept its 3 s --timeout after the fresh publish's wake, not the 200 ms linger: "
                    + (r.endedNanos - fresh) / 1_000_000 + " ms");

            ConsumerRun started = new ConsumerRun(x -> x.listener(listener),
                args("lf", "g", "--timeout", "2s", "--backlog-linger", "100ms"));
            Await.until("accepting wakes", Duration.ofSeconds(20), () -> started.idleTimeout() != null);
            WakeSocket.wake(sock, new WakeSocket.Wake("lf", "g"), Duration.ofSeconds(5));
            long woken = System.nanoTime();
            assertEquals(0, started.await(Duration.ofSeconds(30)));
            assertTrue(started.endedNanos - woken >= Duration.ofMillis(1800).toNanos(),
                "a fresh publish's wake: the whole 2 s --timeout");
        }
    }

    /**
     * A message requeued for later by a consumer woken for a backlog: it stays past the linger, as --timeout planned
     * (no note to the wakeup when the delay is shorter), and handles the message again when it comes back.
     */
    @Test void aRequeueForLaterEndsTheLinger() throws Exception {
        nsq.prepare("lr", "g");
        nsq.publish("lr", 1);
        Path sock = nsq.dir().resolve("lr.sock");
        try (WakeSocket.Listener listener = WakeSocket.Listener.bind(sock)) {
            ConsumerRun r = new ConsumerRun(x -> x.listener(listener), args("lr", "g", "--exec", "false",
                "--max-attempts", "0", "--backoff", "1s/1s", "--timeout", "30s", "--backlog-linger", "100ms"));
            Await.until("accepting wakes", Duration.ofSeconds(20), () -> r.idleTimeout() != null);
            WakeSocket.wake(sock, new WakeSocket.Wake("lr", "g", true), Duration.ofSeconds(5));
            Await.until("the message back after its 1 s delay, handled again", Duration.ofSeconds(20),
                () -> r.received() >= 2);
            assertTrue(r.thread.isAlive(), "still running");
            assertEquals(0, r.stop());
        }
    }

    @Test void badInputIsExit2WithOneClearLine() {
        String n = "127.0.0.1:1";
        Map<List<String>, String> cases = new java.util.LinkedHashMap<>();
        cases.put(List.of("--nsqd", n, "-g", "g"), "--stream");
        cases.put(List.of("--nsqd", n, "-s", "s"), "--group");
        cases.put(List.of("--nsqd", n, "-s", "bad name", "-g", "g"), "'bad name'");
        cases.put(List.of("--nsqd", n, "-s", "s", "-g", "g/h"), "'g/h'");
        cases.put(List.of("--nsqd", "nowhere", "-s", "s", "-g", "g"), "'nowhere'");
        cases.put(List.of("--nsqd", n, "-s", "s", "-g", "g", "--timeout", "soon"), "'soon'");
        cases.put(List.of("--nsqd", n, "-s", "s", "-g", "g", "--count", "-1"), "--count");
        cases.put(List.of("--nsqd", n, "-s", "s", "-g", "g", "--backlog-linger", "2h"),
            "--backlog-linger 2h");
        cases.put(List.of("--nsqd", n, "-s", "s", "-g", "g", "--backlog-linger", "soon"), "'soon'");
        cases.put(List.of("--nsqd", n, "-s", "s", "-g", "g", "--count", "many"), "'many'");
        cases.put(List.of("--nsqd", n, "-s", "s", "-g", "g", "--concurrency", "0"), "--concurrency");
        cases.put(List.of("--nsqd", n, "-s", "s", "-g", "g", "--max-in-flight", "0"), "--max-in-flight");
        cases.put(List.of("--nsqd", n, "-s", "s", "-g", "g", "--exec", " "), "--exec");
        cases.put(List.of("--nsqd", n, "-s", "s", "-g", "g", "--exec"), "--exec");
        cases.put(List.of("--nsqd", n, "-s", "s", "-g", "g", "--backoff", "1s"), "INITIAL/MAX");
        cases.put(List.of("--nsqd", n, "-s", "s", "-g", "g", "--backoff", "5s/1s"), "at most MAX");
        cases.put(List.of("--nsqd", n, "-s", "s", "-g", "g", "--format", "xml"), "xml");
        // only where dead letters can happen
        cases.put(List.of("--nsqd", n, "-s", "x".repeat(60), "-g", "g", "--exec", "false"), "dead-letter");
        cases.put(List.of("--nsqd", n, "-s", "s", "-g", "g", "--socket-activation"), "no socket was passed");
        cases.forEach((args, mention) -> {
            InProcess run = InProcess.run(new consumer(), args.toArray(new String[0]));
            assertEquals(2, run.code(), args + ": " + run.err());
            assertTrue(run.firstErr().contains(mention), args + " should mention " + mention + ": " + run.err());
        });
    }

    @Test void unreachableHostsExit1Quickly() throws Exception {
        long start = System.nanoTime();
        HostPort closed = new HostPort("127.0.0.1", NsqFixture.freePort());
        assertEquals(1, InProcess.run(new consumer(), "--nsqd", closed.toString(), "-s", "s", "-g", "g").code());
        assertEquals(1, InProcess.run(new consumer(), "--lookupd", closed.toString(), "-s", "s", "-g", "g").code());
        assertTrue(System.nanoTime() - start < TimeUnit.SECONDS.toNanos(20), "within seconds each");
    }
}
