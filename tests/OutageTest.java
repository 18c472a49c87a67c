import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cli.Cli;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * An nsqd that is paused, cut off or stalled is an outage, not a wrong peer and not an idle stream:
 * every client rides it out within its bounds, nothing acknowledged is lost (counted with consumer
 * --expect), and the run goes on within seconds once nsqd is back. nsqd never partitions or stalls by
 * itself, so those go through {@link NsqProxy}; SIGSTOP is real. The three scenarios run at the same
 * time (CI's cores and minutes are shared), on two nsqd: one is stopped, the other sits behind the proxies.
 */
class OutageTest {
    static final Duration PAUSE = Duration.ofSeconds(30), PARTITION = Duration.ofSeconds(20),
        GOES_ON_WITHIN = Duration.ofSeconds(5);
    static final Duration BOUND = Duration.ofSeconds(120);

    @RegisterExtension final NsqFixture nsq = new NsqFixture().nsqds(2);
    private final ExecutorService threads = Executors.newCachedThreadPool();
    private final List<producer> producers = new ArrayList<>();
    private final List<ConsumerRun> consumers = new ArrayList<>();

    @AfterEach void stopEveryClient() throws InterruptedException {
        for (producer p : producers) p.stop();
        for (ConsumerRun c : consumers) if (c.code == null) c.front.stop();
        threads.shutdown();
        if (!threads.awaitTermination(30,
            TimeUnit.SECONDS)) System.out.println("OutageTest: a client did not stop within 30 s");
    }

    /** The three scenarios below, at once: each fails on its own words, the others' failures attached. */
    @Test void pausedPartitionedAndStalledNsqdLoseNothingAndAreNotTakenForIdle() throws Exception {
        concurrently(() -> sigstopOf30sUnderEveryClient(nsq.nsqd(0)), () -> partitionOf20s(nsq.nsqd(1)),
            () -> frameStalledHalfWay(nsq.nsqd(1)));
    }

    /**
     * nsqd SIGSTOPped for 30 s takes connections in its kernel and answers nothing. Under a paced producer (single
     * PUBs) and one at --rate max (MPUB), and under printing and --exec consumers with nsqd's heartbeats (30 s) and
     * with 2 s ones (their connections time out and are made again into the silence): no client exits, each goes on
     * within 5 s of SIGCONT, and every consumer gets every seq.
     */
    private void sigstopOf30sUnderEveryClient(NsqFixture.Daemon nsqd) throws Exception {
        int paced = 2000, bulk = 50_000;
        nsqd.prepare("paced", "print", "print-hb2", "exec", "exec-hb2");
        nsqd.prepare("bulk", "print-hb2");
        String at = nsqd.tcp().toString();
        Map<String, ConsumerRun> cs = new LinkedHashMap<>();
        String[] exec = {"--exec", "cat >/dev/null", "--concurrency", "4"};
        // --msg-timeout 10s: what a dropped connection held comes back right after the pause, not a minute later.
        cs.put("consumer printing", consumer(at, "paced", "print", paced));
        cs.put("consumer printing, 2s heartbeats", consumer(at, "paced", "print-hb2", paced, "--heartbeat-interval",
            "2s"));
        cs.put("consumer --exec", consumer(at, "paced", "exec", paced, exec));
        cs.put("consumer --exec, 2s heartbeats", consumer(at, "paced", "exec-hb2", paced, "--exec", "cat >/dev/null",
            "--concurrency", "4",
            "--heartbeat-interval", "2s"));
        cs.put("consumer printing --rate max's stream, 2s heartbeats", consumer(at, "bulk", "print-hb2", bulk,
            "--heartbeat-interval", "2s"));
        awaitSubscribed(nsqd, Map.of("paced", List.of("print", "print-hb2", "exec", "exec-hb2"), "bulk",
            List.of("print-hb2")));

        producer slow = new producer(), max = new producer();
        CompletableFuture<Integer> slowCode = produce(slow, "-s", "paced", "--nsqd", at, "--rate", "50", "--count", ""
            + paced);
        Await.until("50 paced messages published and read", BOUND, () -> slow.acked() >= 50
            && cs.values().stream().limit(4).allMatch(c -> c.received() > 0) || slowCode.isDone());
        CompletableFuture<Integer> maxCode = produce(max, "-s", "bulk", "--nsqd", at, "--rate", "max", "--size", "200",
            "--count", "" + bulk);
        // Stop nsqd as soon as --rate max has its first acknowledgement: it is in the middle of its run, a batch on the
        // wire.
        Await.until("--rate max's first acknowledgement", BOUND, () -> max.acked() > 0 || maxCode.isDone());
        Map<String, LongSupplier> progress = new LinkedHashMap<>();
        progress.put("producer --rate 50", slow::acked);
        progress.put("producer --rate max", max::acked);
        cs.forEach((name, c) -> progress.put(name, c::received));
        Map<String, Duration> goesOn;
        signal(nsqd, "STOP");
        try {
            assertTrue(max.acked() < bulk, "--rate max was still publishing when nsqd stopped: " + max.acked() + " of "
                + bulk);
            Thread.sleep(PAUSE.toMillis()); // the pause itself
            assertFalse(slowCode.isDone() || maxCode.isDone(), "no producer exited during the pause: " + slow.failure()
                + " / " + max.failure());
            cs.forEach((name, c) -> assertNull(c.code, name + " exited during the pause: " + c.fatal()));
        } finally {
            signal(nsqd, "CONT");
        }
        goesOn = timeToProgress(progress, Duration.ofSeconds(60));

        assertEquals(0, slowCode.get(BOUND.toSeconds(), TimeUnit.SECONDS), "producer --rate 50: " + slow.failure());
        assertEquals(0, maxCode.get(BOUND.toSeconds(), TimeUnit.SECONDS), "producer --rate max: " + max.failure());
        assertTrue(slow.counters.retries.sum() > 0 && max.counters.retries.sum() > 0,
            "both producers retried through the pause");
        for (var e : cs.entrySet()) {
            ConsumerRun c = e.getValue();
            awaitDrained(nsqd, stream(c), group(c), c);
            assertEquals(0, c.stop(), e.getKey() + ": every seq arrived (--expect), exit 0: " + c.fatal());
        }
        assertGoesOnWithin(goesOn);
    }

    /**
     * Runs the scenarios at once, each on a thread of its own; fails with the first failure, the others attached to it.
     */
    private void concurrently(Scenario... scenarios) throws Exception {
        List<CompletableFuture<Void>> running = new ArrayList<>();
        for (Scenario s : scenarios) running.add(CompletableFuture.runAsync(unchecked(s), threads));
        Throwable failed = null;
        for (CompletableFuture<Void> r : running) {
            try {
                r.get(5, TimeUnit.MINUTES);
            } catch (java.util.concurrent.ExecutionException e) {
                if (failed == null) failed = e.getCause();
                else failed.addSuppressed(e.getCause());
            }
        }
        if (failed instanceof Error err) throw err;
        if (failed instanceof Exception ex) throw ex;
    }

    /**
     * Through a proxy that forwards nothing for 20 s, then heals: a paced producer and consumers with nsqd's heartbeats
     * and with 2 s ones ride it through and lose nothing. The one with 2 s heartbeats also has --timeout 8s: its
     * connection is overdue after 4 s, so the quiet of the partition is not taken for an idle stream.
     */
    private void partitionOf20s(NsqFixture.Daemon nsqd) throws Exception {
        int n = 1750; // 35 s at 50/s: publishing before, during and after the partition
        nsqd.prepare("cut", "hb2", "default");
        try (NsqProxy proxy = new NsqProxy(nsqd.tcp())) {
            String via = proxy.address().toString();
            ConsumerRun hb2 = consumer(via, "cut", "hb2", n, "--heartbeat-interval", "2s", "--timeout", "8s");
            ConsumerRun plain = consumer(via, "cut", "default", n);
            awaitSubscribed(nsqd, Map.of("cut", List.of("hb2", "default")));
            producer p = new producer();
            CompletableFuture<Integer> code = produce(p, "-s", "cut", "--nsqd", via, "--rate", "50", "--count", "" + n);
            Await.until("50 messages through the proxy, read by both", BOUND,
                () -> p.acked() >= 50 && hb2.received() > 0 && plain.received() > 0 || code.isDone());
            Map<String, LongSupplier> progress = new LinkedHashMap<>();
            progress.put("producer through the partition", p::acked);
            progress.put("consumer through the partition, 2s heartbeats, --timeout 8s", hb2::received);
            progress.put("consumer through the partition", plain::received);
            proxy.partition();
            try {
                Thread.sleep(PARTITION.toMillis()); // the partition itself
                assertFalse(code.isDone(), "the producer did not exit during the partition: " + p.failure());
                assertNull(hb2.code, "the consumer with 2s heartbeats did not exit during the partition: "
                    + hb2.fatal());
                assertNull(plain.code, "the consumer did not exit during the partition: " + plain.fatal());
            } finally {
                proxy.heal();
            }
            Map<String, Duration> goesOn = timeToProgress(progress, Duration.ofSeconds(60));
            assertEquals(0, code.get(BOUND.toSeconds(), TimeUnit.SECONDS), "producer: " + p.failure());
            // It exits by itself, idle for 8 s once the stream is done: with every seq (--expect), so not during the
            // partition.
            assertEquals(0, hb2.await(BOUND), "consumer with --timeout 8s: every seq arrived before it went idle: "
                + hb2.fatal());
            awaitDrained(nsqd, "cut", "default", plain);
            assertEquals(0, plain.stop(), "consumer: every seq arrived (--expect): " + plain.fatal());
            assertGoesOnWithin(goesOn);
        }
    }

    /**
     * A consumer whose connection stops 7 bytes into a message frame, and stays open, does not exit idle with messages
     * waiting (the proxy left 1,437): the stalled connection is dropped and made again, and it reads them all.
     */
    private void frameStalledHalfWay(NsqFixture.Daemon nsqd) throws Exception {
        int n = 500;
        nsqd.prepare("stall", "g");
        List<String> bodies = NsqFixture.bodies("stall-", n);
        nsqd.publish("stall", bodies);
        try (NsqProxy proxy = new NsqProxy(nsqd.tcp())) {
            proxy.stallInsideMessage(50, 7);
            // --msg-timeout 3s: what nsqd had sent into the stalled connection is nsqd's to redeliver, within seconds.
            ConsumerRun c = run(new ConsumerRun("--nsqd", proxy.address().toString(), "-s", "stall", "-g", "g",
                "--timeout", "8s",
                "--msg-timeout", "3s"));
            assertEquals(0, c.await(BOUND), "exit 0 once idle: " + c.fatal());
            assertTrue(proxy.stallHappened(), "the proxy stalled a connection 7 bytes into a message frame");
            Set<String> got = new HashSet<>(c.lines());
            List<String> missing = bodies.stream().filter(b -> !got.contains(b)).toList();
            assertTrue(missing.isEmpty(), "idle exit with " + missing.size() + " of " + n + " messages never read: "
                + missing.subList(0, Math.min(5, missing.size())));
            var ch = nsqd.channel("stall", "g");
            assertEquals(0, ch.depth() + ch.inFlightCount() + ch.deferredCount(), "nothing left waiting: " + ch);
            assertTrue(proxy.connections() >= 2, "the stalled connection was dropped and made again");
        }
    }

    // ---- the clients

    private final Map<ConsumerRun, String[]> readFrom = new java.util.concurrent.ConcurrentHashMap<>();

    /**
     * A consumer that exits 1 unless seq 1..{@code expect} arrived (--expect); --msg-timeout 10s brings back within
     * seconds what a lost connection held.
     */
    private ConsumerRun consumer(String nsqd, String stream, String group, int expect, String... more) {
        List<String> args = new ArrayList<>(List.of("--nsqd", nsqd, "-s", stream, "-g", group, "--expect", "" + expect,
            "--msg-timeout", "10s"));
        args.addAll(List.of(more));
        ConsumerRun c = run(new ConsumerRun(args.toArray(String[]::new)));
        readFrom.put(c, new String[] {stream, group});
        return c;
    }

    private String stream(ConsumerRun c) { return readFrom.get(c)[0]; }

    private String group(ConsumerRun c) { return readFrom.get(c)[1]; }

    private ConsumerRun run(ConsumerRun c) {
        consumers.add(c);
        return c;
    }

    private CompletableFuture<Integer> produce(producer p, String... args) {
        producers.add(p);
        return CompletableFuture.supplyAsync(() -> Cli.run(p, args), threads);
    }

    // ---- what the tests wait for and measure

    private static void awaitSubscribed(NsqFixture.Daemon nsqd, Map<String,
            List<String>> groups) throws InterruptedException {
        Await.until("every consumer subscribed: " + groups, BOUND, () -> {
            for (var e : groups.entrySet()) {
                for (String g : e.getValue()) {
                    var ch = nsqd.channel(e.getKey(), g);
                    if (ch == null || ch.clientCount() == 0) return false;
                }
            }
            return true;
        });
    }

    /** nsqd holds nothing more for this group: nothing waiting, in flight or deferred (or its consumer exited). */
    private static void awaitDrained(NsqFixture.Daemon nsqd, String stream, String group,
            ConsumerRun c) throws InterruptedException {
        Await.until(stream + "/" + group + " drained", BOUND, () -> {
            var ch = nsqd.channel(stream, group);
            return ch != null && ch.depth() + ch.inFlightCount() + ch.deferredCount() == 0 || c.code != null;
        });
    }

    /** From now, how long each counter takes to move past its value now (null when not within {@code bound}). */
    private static Map<String, Duration> timeToProgress(Map<String, LongSupplier> counters,
            Duration bound) throws InterruptedException {
        long start = System.nanoTime();
        Map<String, Long> from = new LinkedHashMap<>();
        counters.forEach((name, c) -> from.put(name, c.getAsLong()));
        Map<String, Duration> took = new LinkedHashMap<>();
        counters.keySet().forEach(name -> took.put(name, null));
        Await.until("every client goes on: " + took, bound, () -> {
            for (var e : counters.entrySet()) {
                if (took.get(e.getKey()) == null && e.getValue().getAsLong() > from.get(e.getKey())) {
                    took.put(e.getKey(), Duration.ofNanos(System.nanoTime() - start));
                }
            }
            return !took.containsValue(null);
        });
        System.out.println("OutageTest: went on after the outage in " + took);
        return took;
    }

    private static void assertGoesOnWithin(Map<String, Duration> took) {
        for (var e : took.entrySet()) {
            assertTrue(e.getValue().compareTo(GOES_ON_WITHIN) < 0, e.getKey() + " went on " + e.getValue().toMillis()
                + " ms after nsqd was back, not within " + GOES_ON_WITHIN.toSeconds() + " s (all: " + took + ")");
        }
    }

    private static void signal(NsqFixture.Daemon d, String signal) throws IOException, InterruptedException {
        int rc = new ProcessBuilder("kill", "-" + signal, String.valueOf(d.pid())).inheritIO().start().waitFor();
        if (rc != 0) throw new IOException("kill -" + signal + " " + d.pid() + " exited " + rc);
    }

    private interface Scenario { void run() throws Exception; }

    private static Runnable unchecked(Scenario s) {
        return () -> {
            try {
                s.run();
            } catch (RuntimeException | Error e) {
                throw e;
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        };
    }
}
