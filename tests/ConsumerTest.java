import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

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
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import picocli.CommandLine;

/** consumer.java against real nsqd, in-process where possible (a test can stop it and read its counters). */
class ConsumerTest {
    @RegisterExtension final NsqFixture nsq = new NsqFixture().withLookupd().nsqds(2);

    /** A consumer running in-process on its own thread, its stdout captured. */
    static final class Run {
        final consumer c = new consumer();
        final ByteArrayOutputStream out = new ByteArrayOutputStream();
        final Thread thread;
        volatile Integer code;
        final long started = System.nanoTime();
        volatile long endedNanos;

        Run(String... args) { this(c -> { }, args); }

        /** {@code setup} runs before the consumer starts (inject a wake listener, ...). */
        Run(java.util.function.Consumer<consumer> setup, String... args) {
            c.out = out;
            setup.accept(c);
            thread = new Thread(() -> {
                code = Cli.run(c, args);
                endedNanos = System.nanoTime();
            }, "consumer-under-test");
            thread.setDaemon(true);
            thread.start();
        }

        List<String> lines() {
            String s = out.toString(StandardCharsets.UTF_8);
            return s.isEmpty() ? List.of() : Arrays.asList(s.split("\n"));
        }

        int await(Duration timeout) throws InterruptedException {
            thread.join(timeout.toMillis());
            if (thread.isAlive()) {
                c.stop();
                thread.join(30_000);
                throw new AssertionError("consumer did not exit within " + timeout.toMillis() + " ms");
            }
            return code;
        }

        /** stop() (the SIGTERM path) and the exit code. */
        int stop() throws InterruptedException {
            c.stop();
            return await(Duration.ofSeconds(30));
        }

        Duration ran() { return Duration.ofNanos(endedNanos - started); }
    }

    static List<String> bodies(String prefix, int n) {
        return IntStream.range(0, n).mapToObj(i -> prefix + i).collect(Collectors.toList());
    }

    static void publish(HostPort nsqd, String topic, List<String> bodies) throws Exception {
        try (NsqPublisher pub = new NsqPublisher(nsqd, Duration.ofSeconds(5))) {
            pub.publish(topic, bodies.stream().map(b -> b.getBytes(StandardCharsets.UTF_8)).collect(Collectors.toList()));
        }
    }

    /** Topic and channels first, so each group keeps what is published before it connects. */
    static void prepare(NsqHttp http, String topic, String... groups) throws Exception {
        http.createTopic(topic);
        for (String g : groups) http.createChannel(topic, g);
    }

    static NsqHttp.ChannelStats channel(NsqHttp http, String topic, String group) throws Exception {
        NsqHttp.TopicStats t = http.stats(topic, group).topic(topic);
        return t == null ? null : t.channel(group);
    }

    String[] args(String stream, String group, String... more) {
        List<String> a = new ArrayList<>(List.of("--nsqd", nsq.tcp().toString(), "-s", stream, "-g", group));
        a.addAll(List.of(more));
        return a.toArray(new String[0]);
    }

    @Test void fanOutEveryGroupGetsEverything() throws Exception {
        prepare(nsq.http(), "fan", "g1", "g2");
        List<String> sent = bodies("fan-", 200);
        publish(nsq.tcp(), "fan", sent);
        Run g1 = new Run(args("fan", "g1", "--count", "200")), g2 = new Run(args("fan", "g2", "--count", "200"));
        assertEquals(0, g1.await(Duration.ofSeconds(30)));
        assertEquals(0, g2.await(Duration.ofSeconds(30)));
        assertEquals(new HashSet<>(sent), new HashSet<>(g1.lines()));
        assertEquals(new HashSet<>(sent), new HashSet<>(g2.lines()));
        assertEquals(200, g1.c.finished.get());
    }

    @Test void sameGroupSplitsWithoutLoss() throws Exception {
        prepare(nsq.http(), "split", "g");
        Run a = new Run(args("split", "g", "--max-in-flight", "5")), b = new Run(args("split", "g", "--max-in-flight", "5"));
        Await.until("both subscribed", Duration.ofSeconds(20), () -> channel(nsq.http(), "split", "g").clientCount() == 2);
        List<String> sent = bodies("split-", 400);
        publish(nsq.tcp(), "split", sent);
        Await.until("400 between them", Duration.ofSeconds(30), () -> a.lines().size() + b.lines().size() >= 400);
        assertEquals(0, a.stop());
        assertEquals(0, b.stop());
        List<String> all = new ArrayList<>(a.lines());
        all.addAll(b.lines());
        assertEquals(new HashSet<>(sent), new HashSet<>(all), "no loss");
        assertTrue(a.lines().size() > 0 && b.lines().size() > 0, "each a share: " + a.lines().size() + "/" + b.lines().size());
        assertEquals(0, channel(nsq.http(), "split", "g").inFlightCount());
    }

    @Test void idleTimeoutExitsButNotWhileAHandlerRuns() throws Exception {
        prepare(nsq.http(), "idle", "g");
        Run quiet = new Run(args("idle", "g", "--timeout", "2"));
        assertEquals(0, quiet.await(Duration.ofSeconds(20)));
        assertTrue(quiet.ran().toMillis() >= 2000, "idle for 2 s first: " + quiet.ran().toMillis());

        publish(nsq.tcp(), "idle", List.of("slow"));
        Run slow = new Run(args("idle", "g", "--timeout", "1", "--exec", "sleep 3"));
        assertEquals(0, slow.await(Duration.ofSeconds(30)));
        assertEquals(1, slow.c.finished.get(), "the 3 s command finished despite a 1 s idle timeout");
        assertEquals(0, slow.c.requeued.get());
        assertTrue(slow.ran().toMillis() >= 3000, "ran " + slow.ran().toMillis());
        assertEquals(0, channel(nsq.http(), "idle", "g").depth());
    }

    @Test void countStopsAndLeavesTheRest() throws Exception {
        prepare(nsq.http(), "count", "g");
        publish(nsq.tcp(), "count", bodies("c", 30));
        Run r = new Run(args("count", "g", "--count", "10", "--format", "json"));
        assertEquals(0, r.await(Duration.ofSeconds(20)));
        assertEquals(10, r.lines().size());
        assertEquals(10, r.c.finished.get());
        var first = NsqHttp.JSON.readTree(r.lines().get(0));
        assertEquals("count", first.get("stream").asText());
        assertEquals("g", first.get("group").asText());
        assertEquals(1, first.get("attempts").asInt());
        assertTrue(first.get("body").asText().startsWith("c"));
        assertEquals(16, first.get("id").asText().length());
        NsqHttp.ChannelStats after = channel(nsq.http(), "count", "g");
        assertEquals(20, after.depth());
        assertEquals(0, after.inFlightCount());
    }

    @Test void jsonMarksBinaryBodies() throws Exception {
        prepare(nsq.http(), "bin", "g");
        byte[] binary = {(byte) 0xff, 0, (byte) 0xfe, 10};
        try (NsqPublisher pub = new NsqPublisher(nsq.tcp(), Duration.ofSeconds(5))) {
            pub.publish("bin", binary);
        }
        Run r = new Run(args("bin", "g", "--count", "1", "--format", "json"));
        assertEquals(0, r.await(Duration.ofSeconds(20)));
        var j = NsqHttp.JSON.readTree(r.lines().get(0));
        assertTrue(j.get("body_base64").asBoolean());
        assertTrue(Arrays.equals(binary, java.util.Base64.getDecoder().decode(j.get("body").asText())));
    }

    @Test void execExitCodesMapToFinAndRequeue() throws Exception {
        prepare(nsq.http(), "exec", "g");
        publish(nsq.tcp(), "exec", List.of("a", "b"));
        Path log = nsq.dir().resolve("exec.log");
        // Fails on the first attempt, succeeds on the second; records what it saw.
        String cmd = "echo \"$MQ_STREAM $MQ_GROUP $MQ_ID $MQ_ATTEMPTS $(cat)\" >> " + log + "; [ \"$MQ_ATTEMPTS\" -ge 2 ]";
        Run r = new Run(args("exec", "g", "--exec", cmd, "--backoff", "100ms/1s", "--count", "2"));
        assertEquals(0, r.await(Duration.ofSeconds(30)));
        assertEquals(2, r.c.finished.get());
        assertEquals(2, r.c.requeued.get());
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
        assertEquals(0, channel(nsq.http(), "exec", "g").depth());
    }

    @Test void failingCommandEndsInTheDeadLetterStream() throws Exception {
        prepare(nsq.http(), "dl", "g");
        prepare(nsq.http(), "dl.dead", "inspect");
        byte[] binary = {1, 2, (byte) 0xff, 3};
        try (NsqPublisher pub = new NsqPublisher(nsq.tcp(), Duration.ofSeconds(5))) {
            pub.publish("dl", "{\"keep\": \"me intact\"}".getBytes(StandardCharsets.UTF_8));
            pub.publish("dl", binary);
        }
        Run r = new Run(args("dl", "g", "--exec", "cat >/dev/null; exit 3", "--max-attempts", "3",
            "--backoff", "50ms/200ms", "--count", "2"));
        assertEquals(0, r.await(Duration.ofSeconds(30)));
        assertEquals(2, r.c.deadLettered.get());
        assertEquals(0, r.c.finished.get());
        assertEquals(4, r.c.requeued.get(), "two failures each before the third goes to the dead letters");
        assertEquals(0, channel(nsq.http(), "dl", "g").depth());

        Run dead = new Run(args("dl.dead", "inspect", "--count", "2"));
        assertEquals(0, dead.await(Duration.ofSeconds(20)));
        Map<String, com.fasterxml.jackson.databind.JsonNode> byKind = new java.util.HashMap<>();
        for (String line : dead.lines()) {
            var j = NsqHttp.JSON.readTree(line);
            assertEquals("dl", j.get("stream").asText());
            assertEquals(3, j.get("attempts").asInt());
            assertEquals("exit status 3", j.get("last_error").asText());
            assertEquals(16, j.get("id").asText().length());
            assertTrue(j.get("ts_ns").asLong() > 0);
            byKind.put(j.has("body_base64") ? "binary" : "text", j);
        }
        assertEquals("{\"keep\": \"me intact\"}", byKind.get("text").get("body").asText());
        assertTrue(Arrays.equals(binary, java.util.Base64.getDecoder().decode(byKind.get("binary").get("body").asText())));
    }

    @Test void deadLetterPublishFailureRequeuesInstead() throws Exception {
        prepare(nsq.http(), "dlfail", "g");
        publish(nsq.tcp(), "dlfail", List.of("x"));
        // A dead-letter stream name nsqd refuses (too long is caught at start, so use a paused... no: an
        // over-size body): nsqd's --max-msg-size default is 1 MiB, the dead letter adds metadata to a 1 MiB body.
        byte[] big = new byte[1024 * 1024 - 100];
        Arrays.fill(big, (byte) 'a');
        try (NsqPublisher pub = new NsqPublisher(nsq.tcp(), Duration.ofSeconds(5))) {
            pub.publish("dlfail", big);
        }
        Run r = new Run(args("dlfail", "g", "--exec", "cat >/dev/null; exit 1", "--max-attempts", "1", "--backoff", "100ms/100ms"));
        Await.until("x dead-lettered and the big one requeued after a failed dead-letter publish", Duration.ofSeconds(20),
            () -> r.c.deadLettered.get() == 1 && r.c.requeued.get() >= 1);
        assertEquals(0, r.stop());
        NsqHttp.ChannelStats after = channel(nsq.http(), "dlfail", "g");
        assertEquals(1, after.depth() + after.deferredCount(), "the one that could not be dead-lettered is still there");
    }

    @Test void verifyCountsGapsAndDuplicates() throws Exception {
        prepare(nsq.http(), "ver", "g");
        List<String> events = new ArrayList<>();
        for (int seq : new int[] {0, 1, 2, 4, 4, 5}) {
            events.add("{\"stream\":\"ver\",\"producer\":\"h:1:0\",\"seq\":" + seq + ",\"ts_ns\":1,\"payload\":{}}");
        }
        events.add("{\"stream\":\"ver\",\"producer\":\"h:2:0\",\"seq\":0,\"ts_ns\":1,\"payload\":{}}");
        events.add("not an event");
        publish(nsq.tcp(), "ver", events);
        Run r = new Run(args("ver", "g", "--count", "8", "--verify"));
        assertEquals(0, r.await(Duration.ofSeconds(20)));
        assertEquals(1, r.c.verifier.duplicates());
        assertEquals(1, r.c.verifier.gaps());
        List<String> report = r.c.verifier.report();
        assertTrue(report.contains("producer h:1:0 count=6 seq=0..5 gaps=1 duplicates=1"), report.toString());
        assertTrue(report.contains("producer h:2:0 count=1 seq=0..0 gaps=0 duplicates=0"), report.toString());
        assertTrue(report.contains("1 message(s) were not producer.java events"), report.toString());
    }

    @Test void stopDrainsAndRequeuesForTheNextConsumerAtOnce() throws Exception {
        prepare(nsq.http(), "drain", "g");
        publish(nsq.tcp(), "drain", bodies("d", 10));
        Path done = nsq.dir().resolve("done.log");
        // One slow command at a time, four more messages waiting in flight.
        Run first = new Run(args("drain", "g", "--exec", "sleep 1; cat >> " + done + "; echo >> " + done,
            "--max-in-flight", "5"));
        Await.until("5 in flight at nsqd", Duration.ofSeconds(20), () -> channel(nsq.http(), "drain", "g").inFlightCount() == 5);
        assertEquals(0, first.stop());
        NsqHttp.ChannelStats after = channel(nsq.http(), "drain", "g");
        assertEquals(0, after.inFlightCount(), "nothing left for msg-timeout");
        long finished = first.c.finished.get();
        assertTrue(finished >= 1, "the running command finished");
        assertEquals(10 - finished, after.depth());
        // The default msg-timeout is 60 s: getting them within 15 s proves they were requeued, not timed out.
        Run next = new Run(args("drain", "g", "--count", String.valueOf(10 - finished)));
        assertEquals(0, next.await(Duration.ofSeconds(15)));
        Set<String> all = new HashSet<>(next.lines());
        Files.readAllLines(done).stream().filter(l -> !l.isEmpty()).forEach(all::add);
        assertEquals(new HashSet<>(bodies("d", 10)), all);
    }

    @Test void drainTimeoutKillsARunningCommandAndRequeuesItsMessage() throws Exception {
        prepare(nsq.http(), "stuck", "g");
        publish(nsq.tcp(), "stuck", List.of("s"));
        Run r = new Run(args("stuck", "g", "--exec", "sleep 60", "--drain-timeout", "500ms"));
        Await.until("the command runs", Duration.ofSeconds(20), () -> channel(nsq.http(), "stuck", "g").inFlightCount() == 1);
        assertEquals(0, r.stop());
        assertTrue(r.ran().toMillis() < 20_000, "did not wait for the 60 s command: " + r.ran().toMillis());
        assertEquals(1, r.c.requeued.get());
        NsqHttp.ChannelStats after = channel(nsq.http(), "stuck", "g");
        assertEquals(0, after.inFlightCount());
        assertEquals(1, after.depth(), "requeued with no delay");
    }

    static List<String> javaConsumer(String... args) { return Spawned.java("consumer", args); }

    @Test void sigtermDrainsExits0AndTheNextConsumerGetsTheRestAtOnce() throws Exception {
        prepare(nsq.http(), "term", "g");
        publish(nsq.tcp(), "term", bodies("t", 10));
        Spawned p = nsq.spawn(javaConsumer(args("term", "g", "--exec", "sleep 1; cat; echo", "--max-in-flight", "5")), Map.of());
        Await.until("5 in flight at nsqd", Duration.ofSeconds(30), () -> channel(nsq.http(), "term", "g").inFlightCount() == 5);
        p.signal("TERM");
        assertEquals(0, p.waitFor(Duration.ofSeconds(30)), p.stderr());
        assertTrue(p.stderr().contains("summary: received="), p.stderr());
        NsqHttp.ChannelStats after = channel(nsq.http(), "term", "g");
        assertEquals(0, after.inFlightCount(), "nothing left for msg-timeout");
        List<String> done = p.stdout().lines().filter(l -> !l.isEmpty()).collect(Collectors.toList());
        assertFalse(done.isEmpty(), "the running command was allowed to finish");
        assertEquals(10 - done.size(), after.depth());
        Run next = new Run(args("term", "g", "--count", String.valueOf(10 - done.size())));
        assertEquals(0, next.await(Duration.ofSeconds(15)), "within 15 s, far below the 60 s msg-timeout");
        Set<String> all = new HashSet<>(done);
        all.addAll(next.lines());
        assertEquals(new HashSet<>(bodies("t", 10)), all);
    }

    /** The seed's command: `STREAM=foo GROUP=1 TIMEOUT=... make consumer`, everything from the environment. */
    @Test void makeConsumerTakesStreamGroupAndTimeoutFromTheEnvironment() throws Exception {
        prepare(nsq.http(), "foo", "1");
        publish(nsq.tcp(), "foo", bodies("f", 5));
        Spawned make = nsq.spawn(List.of("make", "-s", "consumer"), Map.of("STREAM", "foo", "GROUP", "1", "TIMEOUT", "2",
            "NSQD_TCP_ADDRESS", nsq.tcp().toString()));
        assertEquals(0, make.waitFor(Duration.ofSeconds(120)), make.stderr());
        assertEquals(new HashSet<>(bodies("f", 5)), new HashSet<>(make.stdout().lines().toList()));
        assertTrue(make.stderr().contains("exiting after 2s idle"), make.stderr());
    }

    @Test void reconnectsAfterNsqdRestart() throws Exception {
        prepare(nsq.http(), "restart", "g");
        Run r = new Run(args("restart", "g"));
        publish(nsq.tcp(), "restart", bodies("r", 10));
        Await.until("first 10", Duration.ofSeconds(20), () -> r.lines().size() == 10);
        nsq.nsqd().restart();
        publish(nsq.tcp(), "restart", bodies("s", 10));
        Await.until("10 more after the restart", Duration.ofSeconds(30), () -> r.lines().size() == 20);
        assertEquals(0, r.stop());
        Set<String> want = new HashSet<>(bodies("r", 10));
        want.addAll(bodies("s", 10));
        assertEquals(want, new HashSet<>(r.lines()));
    }

    @Test void lookupdFindsBothNodes() throws Exception {
        for (int i = 0; i < 2; i++) {
            prepare(new NsqHttp(nsq.nsqd(i).http()), "both", "g");
            publish(nsq.nsqd(i).tcp(), "both", bodies("n" + i + "-", 10));
        }
        Run r = new Run("--lookupd", nsq.lookupd().http().toString(), "--lookupd-interval", "300ms",
            "-s", "both", "-g", "g", "--count", "20");
        assertEquals(0, r.await(Duration.ofSeconds(30)));
        Set<String> want = new HashSet<>(bodies("n0-", 10));
        want.addAll(bodies("n1-", 10));
        assertEquals(want, new HashSet<>(r.lines()));
    }

    static int usage(String... args) {
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        CommandLine cl = Cli.commandLine(new consumer());
        cl.setErr(new PrintWriter(err, true, StandardCharsets.UTF_8));
        int code = cl.execute(args);
        lastErr = err.toString(StandardCharsets.UTF_8);
        return code;
    }

    static String lastErr = "";

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
        cases.put(List.of("--nsqd", n, "-s", "s", "-g", "g", "--count", "many"), "'many'");
        cases.put(List.of("--nsqd", n, "-s", "s", "-g", "g", "--concurrency", "0"), "--concurrency");
        cases.put(List.of("--nsqd", n, "-s", "s", "-g", "g", "--max-in-flight", "0"), "--max-in-flight");
        cases.put(List.of("--nsqd", n, "-s", "s", "-g", "g", "--exec", " "), "--exec");
        cases.put(List.of("--nsqd", n, "-s", "s", "-g", "g", "--exec"), "--exec");
        cases.put(List.of("--nsqd", n, "-s", "s", "-g", "g", "--backoff", "1s"), "INITIAL/MAX");
        cases.put(List.of("--nsqd", n, "-s", "s", "-g", "g", "--backoff", "5s/1s"), "at most MAX");
        cases.put(List.of("--nsqd", n, "-s", "s", "-g", "g", "--format", "xml"), "xml");
        cases.put(List.of("--nsqd", n, "-s", "x".repeat(60), "-g", "g"), "dead-letter");
        cases.put(List.of("--nsqd", n, "-s", "s", "-g", "g", "--socket-activation"), "no socket was passed");
        cases.forEach((args, mention) -> {
            assertEquals(2, usage(args.toArray(new String[0])), args + ": " + lastErr);
            String first = lastErr.lines().findFirst().orElse("");
            assertTrue(first.contains(mention), args + " should mention " + mention + ": " + lastErr);
        });
    }

    @Test void unreachableHostsExit1Quickly() throws Exception {
        long start = System.nanoTime();
        HostPort closed = new HostPort("127.0.0.1", NsqFixture.freePort());
        assertEquals(1, usage("--nsqd", closed.toString(), "-s", "s", "-g", "g"));
        assertEquals(1, usage("--lookupd", closed.toString(), "-s", "s", "-g", "g"));
        assertTrue(System.nanoTime() - start < TimeUnit.SECONDS.toNanos(20), "within seconds each");
    }
}
