import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cli.Cli;
import com.fasterxml.jackson.databind.JsonNode;
import events.ProducerEvents;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import nsq.HostPort;
import nsq.Names;
import nsq.http.NsqHttp;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import picocli.CommandLine;
import util.Json;

/** producer.java against a real nsqd: pacing, counts, payloads, stdin, defer, failures, restarts, signals. */
class ProducerTest {
    // A low --max-req-timeout lets a test see nsqd itself refuse a --defer under our 1h client-side check.
    @RegisterExtension final NsqFixture nsq = new NsqFixture().flags("--max-req-timeout=5s");

    private static final Duration RUN_BOUND = Duration.ofSeconds(90);

    // ---- helpers ----

    private String[] args(String stream, String... more) {
        List<String> a = new ArrayList<>(List.of("-s", stream, "--nsqd", nsq.tcp().toString()));
        a.addAll(List.of(more));
        return a.toArray(String[]::new);
    }

    /** Runs the producer in-process to its end; returns the exit code. */
    private static int run(producer p, String... args) throws Exception {
        CompletableFuture<Integer> code = start(p, args);
        return code.get(RUN_BOUND.toMillis(), TimeUnit.MILLISECONDS);
    }

    private static CompletableFuture<Integer> start(producer p, String... args) {
        return CompletableFuture.supplyAsync(() -> Cli.run(p, args));
    }

    /** Creates the channel before publishing, so nsqd keeps every message for it. */
    private ChannelReader channel(String topic) throws Exception {
        nsq.http().createTopic(topic);
        nsq.http().createChannel(topic, "check");
        return new ChannelReader(nsq.tcp(), topic, "check");
    }

    private long messageCount(String topic) throws Exception {
        NsqHttp.TopicStats t = nsq.http().stats().topic(topic);
        return t == null ? 0 : t.messageCount();
    }

    private static JsonNode json(ChannelReader.Message m) throws Exception {
        return Json.MAPPER.readTree(m.body());
    }

    private List<String> javaCommand(String... args) { return Spawned.java("producer", args); }

    // ---- pacing and counts ----

    @Test void pacedRunPublishesAtTheInterval() throws Exception {
        try (ChannelReader reader = channel("paced")) {
            java.time.Instant before = java.time.Instant.now();
            long t0 = System.nanoTime(), t0Epoch = before.getEpochSecond() * 1_000_000_000L + before.getNano();
            producer p = new producer();
            assertEquals(0, run(p, args("paced", "--interval", "300ms", "--count", "4")));
            long elapsedMs = (System.nanoTime() - t0) / 1_000_000;
            assertEquals(4, p.acked());
            assertTrue(elapsedMs >= 895, "4 events 300 ms apart take at least 900 ms, took " + elapsedMs);
            List<ChannelReader.Message> got = reader.take(4, Duration.ofSeconds(10));
            for (int i = 0; i < got.size(); i++) {
                // Event i is due 300 ms * i after the start; a late one may be followed by a prompt one, never an early
                // one.
                long atMs = (json(got.get(i)).get("ts_ns").asLong() - t0Epoch) / 1_000_000;
                assertTrue(atMs >= 300L * i - 5, "event " + (i + 1) + " at " + atMs + " ms, due at " + 300 * i);
                assertEquals(i + 1, json(got.get(i)).get("seq").asLong());
            }
        }
    }

    @Test void stopEndsAnOpenEndedRunCleanly() throws Exception {
        producer p = new producer();
        CompletableFuture<Integer> code = start(p, args("open", "--interval", "50ms"));
        Await.until("3 acknowledged", Duration.ofSeconds(30), () -> p.acked() >= 3);
        p.stop();
        assertEquals(0, code.get(30, TimeUnit.SECONDS));
        assertEquals(p.sent.sum(), p.acked(), "stop waits for every outstanding acknowledgement");
        assertEquals(p.acked(), messageCount("open"));
    }

    @Test void threadsEveryProducerSeqArrivesExactlyOnce() throws Exception {
        int count = 5003, threads = 4;
        try (ChannelReader reader = channel("threads")) {
            producer p = new producer();
            assertEquals(0, run(p, args("threads", "--rate", "max", "--threads", "" + threads, "--count", "" + count,
                "--batch", "50")));
            assertEquals(count, p.sent.sum(), "--count is exact");
            assertEquals(count, p.acked());
            assertEquals(count, messageCount("threads"));
            Map<String, TreeSet<Long>> seqs = new HashMap<>();
            for (ChannelReader.Message m : reader.take(count, Duration.ofSeconds(60))) {
                JsonNode e = json(m);
                assertEquals("threads", e.get("stream").asText());
                assertEquals(10, e.get("payload").size());
                assertTrue(seqs.computeIfAbsent(e.get("producer").asText(),
                    k -> new TreeSet<>()).add(e.get("seq").asLong()),
                    "duplicate " + e.get("producer") + " seq " + e.get("seq"));
            }
            assertEquals(threads, seqs.size(), "one producer id per thread: " + seqs.keySet());
            String pid = ":" + ProcessHandle.current().pid() + ":";
            for (var entry : seqs.entrySet()) {
                assertTrue(entry.getKey().contains(pid), "producer id is host:pid:thread: " + entry.getKey());
                TreeSet<Long> s = entry.getValue();
                assertEquals(1, s.first(), entry.getKey());
                assertEquals(s.size(), s.last(), "seq is gapless for " + entry.getKey());
            }
            assertTrue(reader.poll(Duration.ofMillis(300)).isEmpty(), "nothing beyond --count");
        }
    }

    // ---- payloads ----

    @Test void payloadSizeGrowsWithKeys() throws Exception {
        int k10 = new ProducerEvents("s", 0, 10, null).event(1).length;
        int k100 = new ProducerEvents("s", 0, 100, null).event(1).length;
        int k1000 = new ProducerEvents("s", 0, 1000, null).event(1).length;
        assertTrue(k10 < k100 && k100 < k1000, k10 + " " + k100 + " " + k1000);
        assertTrue(Math.abs(k1000 - 1048576) < 104858, "1000 keys = 1 MiB +-10%: " + k1000);
        try (ChannelReader reader = channel("big")) {
            assertEquals(0, run(new producer(), args("big", "--payload-keys", "1000", "--count", "1")));
            JsonNode e = json(reader.take(1, Duration.ofSeconds(20)).get(0));
            assertEquals(1000, e.get("payload").size());
            assertEquals(1, e.get("seq").asLong());
            assertTrue(e.get("ts_ns").asLong() > 1_600_000_000L * 1_000_000_000L, "ts_ns is epoch nanoseconds");
        }
        for (int size : List.of(200, 1000)) {
            byte[] body = new ProducerEvents("s", 3, 10, size).event(12345);
            assertEquals(size, body.length, "--size is exact");
            assertEquals(12345, Json.MAPPER.readTree(body).get("seq").asLong(), "a padded event is still an event");
        }
        assertEquals(10, new ProducerEvents("s", 0, 10, 10).event(1).length,
            "--size below an event: filler of that size");
    }

    // ---- stdin ----

    @Test void stdinKeepsBytesExactlyAndSkipsEmptyLines() throws Exception {
        String input =
            "h\u00e9llo w\u00f6rld \u2713\n\n{\"a\":1}\r\n\n\u65e5\u672c\u8a9e \ud83d\ude42\nlast without newline";
        List<String> expected = List.of("h\u00e9llo w\u00f6rld \u2713", "{\"a\":1}\r",
            "\u65e5\u672c\u8a9e \ud83d\ude42", "last without newline");
        try (ChannelReader reader = channel("stdin")) {
            producer p = new producer();
            p.stdin = new ByteArrayInputStream(input.getBytes(StandardCharsets.UTF_8));
            assertEquals(0, run(p, args("stdin", "-")));
            assertEquals(4, p.acked());
            assertEquals(2, p.skipped.sum(), "empty lines are skipped and counted");
            List<String> got = new ArrayList<>();
            for (ChannelReader.Message m : reader.take(4, Duration.ofSeconds(10))) got.add(m.text());
            assertEquals(expected, got, "bytes and order kept");
        }
        try (ChannelReader reader = channel("nul")) {
            producer p = new producer();
            p.stdin = new ByteArrayInputStream("a\nb\0\0c\0".getBytes(StandardCharsets.UTF_8));
            assertEquals(0, run(p, args("nul", "--stdin", "--delimiter", "\\0")));
            List<String> got = new ArrayList<>();
            for (ChannelReader.Message m : reader.take(2, Duration.ofSeconds(10))) got.add(m.text());
            assertEquals(List.of("a\nb", "c"), got);
            assertEquals(1, p.skipped.sum());
        }
    }

    @Test void catIntoJbangJustWorks() throws Exception {
        Path file = nsq.dir().resolve("events.jsonl");
        Files.writeString(file, "{\"n\":1}\n{\"n\":2}\n\n{\"n\":3}\n");
        Spawned sh = nsq.spawn(List.of("bash", "-c", "cat '" + file + "' | ./jbang producer.java -s foo -"),
            Map.of("NSQD_TCP_ADDRESS", nsq.tcp().toString()));
        assertEquals(0, sh.waitFor(Duration.ofSeconds(120)), sh.stderr());
        assertEquals(3, messageCount("foo"));
        assertTrue(sh.stderr().contains("3 acknowledged") && sh.stderr().contains("1 empty skipped"), sh.stderr());
        assertEquals("", sh.stdout(), "data never on stdout");
    }

    // ---- defer ----

    @Test void deferredPublishIsNotDeliveredBeforeItsTime() throws Exception {
        try (ChannelReader reader = channel("later")) {
            long t0 = System.nanoTime();
            producer p = new producer();
            assertEquals(0, run(p, args("later", "--defer", "2s", "--count", "3", "--rate", "max")));
            long deferred = nsq.http().stats().topic("later").channel("check").deferredCount();
            if ((System.nanoTime() - t0) / 1_000_000 < 1500) assertEquals(3, deferred, "held back by nsqd");
            for (ChannelReader.Message m : reader.take(3, Duration.ofSeconds(30))) {
                long afterMs = (m.arrivedNanos() - t0) / 1_000_000;
                assertTrue(afterMs >= 2000, "delivered " + afterMs + " ms after publishing, before --defer 2s");
            }
        }
    }

    @Test void deferBeyondLimitsIsRefusedClearly() throws Exception {
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        CommandLine cl = Cli.commandLine(new producer());
        cl.setErr(new PrintWriter(err, true, StandardCharsets.UTF_8));
        assertEquals(2, cl.execute(args("d", "--defer", "2h")));
        assertTrue(err.toString(StandardCharsets.UTF_8).contains("--max-req-timeout"),
            err.toString(StandardCharsets.UTF_8));
        // This nsqd runs with --max-req-timeout=5s: it refuses 10s itself.
        producer p = new producer();
        assertEquals(1, run(p, args("d", "--defer", "10s", "--count", "1")));
        assertTrue(p.failure().contains("--max-req-timeout") && p.failure().contains("out of range"), p.failure());
        assertEquals(0, p.counters.retries.sum(), "no retry loop on a refusal");
    }

    // ---- failures ----

    @Test void oversizeMessageFailsClearlyAndLosesNothingElse() throws Exception {
        byte[] big = new byte[1024 * 1024 + 1];
        java.util.Arrays.fill(big, (byte) 'x');
        ByteArrayOutputStream input = new ByteArrayOutputStream();
        input.write("a\nb\n".getBytes(StandardCharsets.UTF_8));
        input.write(big);
        input.write("\nc\nd\n".getBytes(StandardCharsets.UTF_8));
        try (ChannelReader reader = channel("oversize")) {
            producer p = new producer();
            p.stdin = new ByteArrayInputStream(input.toByteArray());
            long t0 = System.nanoTime();
            assertEquals(1, run(p, args("oversize", "-", "--batch", "10")));
            assertTrue((System.nanoTime() - t0) / 1e9 < 30, "no retry loop");
            assertTrue(p.failure().contains("1048577") && p.failure().contains("1048576")
                && p.failure().contains("--max-msg-size"),
                p.failure());
            assertEquals(0, p.counters.retries.sum());
            assertEquals(4, p.acked(), "the batch-mates of the big message were re-sent without it");
            List<String> got = new ArrayList<>();
            for (ChannelReader.Message m : reader.take(4, Duration.ofSeconds(10))) got.add(m.text());
            assertEquals(List.of("a", "b", "c", "d"), got);
        }
        producer keys = new producer();
        assertEquals(1, run(keys, args("oversize2", "--payload-keys", "1100", "--count", "3", "--rate", "max")));
        assertTrue(keys.failure().contains("--max-msg-size"), keys.failure());
        assertEquals(0, keys.acked());
    }

    @Test void badInputExits2NamingTheValueAndTheRule() throws Exception {
        Map<List<String>, String> cases = new java.util.LinkedHashMap<>();
        cases.put(List.of("-s", "bad name"), "'bad name'");
        cases.put(List.of("-s", "ok", "--count", "abc"), "abc");
        cases.put(List.of("-s", "ok", "--count", "0"), "--count 0");
        cases.put(List.of("-s", "ok", "--rate", "fast"), "'fast'");
        cases.put(List.of("-s", "ok", "--rate", "-3"), "'-3'");
        cases.put(List.of("-s", "ok", "--threads", "0"), "--threads 0");
        cases.put(List.of("-s", "ok", "--size", "0"), "--size 0");
        cases.put(List.of("-s", "ok", "--interval", "soon"), "'soon'");
        cases.put(List.of("-s", "ok", "--delimiter", "ab"), "'ab'");
        cases.put(List.of("-s", "ok", "--nsqd", "nowhere"), "'nowhere'");
        cases.put(List.of("-s", "ok", "extra"), "'extra'");
        cases.put(List.of("-s", "ok", "-", "--threads", "2"), "--threads 2");
        for (var c : cases.entrySet()) {
            ByteArrayOutputStream err = new ByteArrayOutputStream();
            CommandLine cl = Cli.commandLine(new producer());
            cl.setErr(new PrintWriter(err, true, StandardCharsets.UTF_8));
            List<String> a = new ArrayList<>(c.getKey());
            if (!a.contains("--nsqd")) a.addAll(List.of("--nsqd", nsq.tcp().toString()));
            assertEquals(2, cl.execute(a.toArray(String[]::new)), c.getKey().toString());
            String first = err.toString(StandardCharsets.UTF_8).lines().findFirst().orElse("");
            assertTrue(first.contains(c.getValue()), c.getKey() + " -> " + first);
        }
        assertTrue(nsq.http().stats().topics().isEmpty(), "nothing was published or created");
        Spawned bad = nsq.spawn(javaCommand("-s", "no/slash", "--nsqd", nsq.tcp().toString()), Map.of());
        assertEquals(2, bad.waitFor(Duration.ofSeconds(30)));
        assertTrue(bad.stderr().contains("'no/slash'") && bad.stderr().contains(Names.RULE), bad.stderr());
    }

    @Test void unreachableNsqdIsAClearErrorWithinSeconds() throws Exception {
        HostPort nowhere = new HostPort("127.0.0.1", NsqFixture.freePort());
        producer p = new producer();
        long t0 = System.nanoTime();
        assertEquals(1, Cli.run(p, "-s", "x", "--nsqd", nowhere.toString(), "--count", "5", "--retry-timeout", "2s"));
        assertTrue((System.nanoTime() - t0) / 1e9 < 30, "gives up after --retry-timeout, not per message");
        assertTrue(p.failure().contains(nowhere.toString()) && p.failure().contains("retry timeout 2s"), p.failure());
        assertEquals(0, p.acked());
        // With the default 60 s retry timeout, the first failure is still logged at once.
        Spawned proc = nsq.spawn(javaCommand("-s", "x", "--nsqd", nowhere.toString()), Map.of());
        Await.until("the first connection failure on stderr", Duration.ofSeconds(20),
            () -> proc.stderr().contains("nsqd " + nowhere) && proc.stderr().contains("refused"));
    }

    // ---- restarts and signals ----

    @Test void nsqdRestartMidRunKeepsEveryAcknowledgedSeq() throws Exception {
        int count = 20000;
        nsq.http().createTopic("restart");
        nsq.http().createChannel("restart", "check"); // before publishing: the channel keeps every message
        producer p = new producer();
        CompletableFuture<Integer> code = start(p, args("restart", "--count", "" + count, "--rate", "4000",
            "--threads", "2", "--batch", "10"));
        try {
            Await.until("4000 acknowledged before the restart", Duration.ofSeconds(60), () -> p.acked() >= 4000
                || code.isDone());
            nsq.nsqd().sigterm();
            nsq.nsqd().start();
            assertEquals(0, code.get(RUN_BOUND.toMillis(), TimeUnit.MILLISECONDS), p.failure());
        } finally {
            p.stop(); // whatever happened above, no producer outlives the test
        }
        assertEquals(count, p.acked());
        assertTrue(p.counters.retries.sum() >= 1, "the restart cut a connection");
        Map<String, Set<Long>> seen = new HashMap<>();
        try (ChannelReader reader = new ChannelReader(nsq.tcp(), "restart", "check")) {
            Await.until(count + " distinct (producer, seq) in the channel", Duration.ofSeconds(60), () -> {
                for (ChannelReader.Message m : reader.poll(Duration.ofMillis(200))) {
                    JsonNode e = json(m);
                    seen.computeIfAbsent(e.get("producer").asText(), k -> new HashSet<>()).add(e.get("seq").asLong());
                }
                return seen.values().stream().mapToInt(Set::size).sum() >= count;
            });
        }
        for (var e : seen.entrySet()) {
            for (long s = 1; s <= e.getValue().size(); s++) assertTrue(e.getValue().contains(s), e.getKey()
                + " lost seq " + s);
        }
    }

    private static final Pattern ACKED = Pattern.compile("(\\d+) acknowledged");

    @Test void sigtermAndSigintPrintTheSummaryAndExit0() throws Exception {
        for (String signal : List.of("TERM", "INT")) {
            String topic = "sig" + signal;
            Spawned proc = nsq.spawn(javaCommand("-s", topic, "--nsqd", nsq.tcp().toString(), "--interval", "50ms"),
                Map.of());
            Await.until("3 messages from the producer", Duration.ofSeconds(30), () -> messageCount(topic) >= 3);
            proc.signal(signal);
            assertEquals(0, proc.waitFor(Duration.ofSeconds(30)), proc.stderr());
            Matcher m = ACKED.matcher(proc.stderr().lines().filter(l -> l.contains("done:")).findFirst().orElse(""));
            assertTrue(m.find(), "a summary line: " + proc.stderr());
            assertEquals(messageCount(topic), Long.parseLong(m.group(1)), "every acknowledged message is in nsqd: "
                + proc.stderr());
            assertTrue(proc.stderr().contains("0 not acknowledged"), proc.stderr());
        }
    }

    @Test void makeProducerMapsGoroutinesToThreads() throws Exception {
        Packaged.ensure();
        try (ChannelReader reader = channel("mk")) {
            Spawned make = nsq.spawn(List.of("make", "-s", "producer"), Map.of("STREAM", "mk", "GOROUTINES", "2",
                "NSQD_TCP_ADDRESS", nsq.tcp().toString(), "COUNT", "4", "INTERVAL", "100ms", "PAYLOAD_KEYS", "3"));
            assertEquals(0, make.waitFor(Duration.ofSeconds(120)), make.stderr());
            Set<String> producers = new HashSet<>();
            for (ChannelReader.Message m : reader.take(4, Duration.ofSeconds(10))) {
                producers.add(json(m).get("producer").asText());
                assertEquals(3, json(m).get("payload").size());
            }
            assertEquals(2, producers.size(), "GOROUTINES=2 means two publishers: " + producers);
        }
    }
}
