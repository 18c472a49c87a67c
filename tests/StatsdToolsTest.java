import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import activation.DeferredWake;
import activation.WakeSocket;
import cli.Cli;
import cli.StatsdOptions;
import java.nio.file.Files;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import nsq.http.NsqHttp;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Each tool, in-process against a real nsqd, sends its metrics to a statsd listener with the counts of
 * a known run (the final flush on exit carries them: the interval is nsqd's 60 s); with nothing
 * listening, each still exits 0.
 */
class StatsdToolsTest {
    @RegisterExtension final NsqFixture nsq = new NsqFixture();
    static final Duration WAIT = Duration.ofSeconds(60);

    /** The default prefix, as the tools expand it on this host. */
    static String prefix() {
        StatsdOptions o = new StatsdOptions();
        o.prefix = "mqueue.%s";
        o.interval = Duration.ofSeconds(60);
        return o.check().expandedPrefix();
    }

    @Test void producerSendsPublishedAcknowledgedAndRetries() throws Exception {
        try (StatsdListener l = new StatsdListener()) {
            producer p = new producer();
            assertEquals(0, Cli.run(p, "-s", "metered", "--nsqd", nsq.tcp().toString(), "--count", "20",
                "--rate", "max", "--batch", "7", "--statsd-address", l.address()), "producer: " + p.failure());
            String name = prefix() + "producer.metered.";
            Await.until("the final flush", WAIT, () -> l.sum(name + "acknowledged") == 20);
            assertEquals(20, l.sum(name + "published"), l.lines().toString());
            assertEquals(0, l.sum(name + "retries"));
            assertTrue(l.lines().contains(name + "published:20|c"), "one interval, one line: " + l.lines());
        }
    }

    /** A first --nsqd where nothing listens: each failed attempt is a retry, and statsd hears as many as counted. */
    @Test void producerRetriesAreSentAsCounted() throws Exception {
        try (StatsdListener l = new StatsdListener()) {
            producer p = new producer();
            String dead = "127.0.0.1:" + NsqFixture.freePort();
            assertEquals(0, Cli.run(p, "-s", "retried", "--nsqd", dead + "," + nsq.tcp(), "--count", "5",
                "--rate", "max", "--statsd-address", l.address()), "producer: " + p.failure());
            String name = prefix() + "producer.retried.";
            Await.until("the final flush", WAIT, () -> l.sum(name + "acknowledged") == 5);
            long retries = p.counters.retries.sum();
            assertTrue(retries >= 1, "the first address failed");
            assertEquals(retries, l.sum(name + "retries"), l.lines().toString());
        }
    }

    /**
     * 20 messages, 5 of them failing twice (--max-attempts 2): 25 received, 15 finished, 5 requeued,
     * 5 dead-lettered, 25 handler runs timed.
     */
    @Test void consumerSendsReceivedFinishedRequeuedDeadLetteredAndHandlerTime() throws Exception {
        nsq.prepare("work", "g");
        List<String> bodies = new ArrayList<>();
        for (int i = 0; i < 20; i++) bodies.add(i % 4 == 0 ? "fail" + i : "ok" + i);
        nsq.publish("work", bodies);
        try (StatsdListener l = new StatsdListener()) {
            ConsumerRun c = new ConsumerRun("-s", "work", "-g", "g", "--nsqd", nsq.tcp().toString(),
                "--exec", "grep -q ok", "--max-attempts", "2", "--backoff", "10ms/10ms", "--count", "20",
                "--statsd-address", l.address());
            assertEquals(0, c.await(WAIT), "consumer: " + c.fatal());
            String name = prefix() + "consumer.g.";
            Await.until("the final flush", WAIT, () -> l.sum(name + "received") == 25);
            assertEquals(15, l.sum(name + "finished"), l.lines().toString());
            assertEquals(5, l.sum(name + "requeued"), l.lines().toString());
            assertEquals(5, l.sum(name + "dead_lettered"), l.lines().toString());
            assertEquals(25, l.samples(name + "handler_time"), 1e-9, "each command timed: " + l.lines());
            assertEquals(List.of(25L, 15L, 5L, 5L), List.of(c.received(), c.finished(), c.requeued(), c.deadLettered()),
                "the run's own counts: received, finished, requeued, dead-lettered");
        }
    }

    /** A handler script through lib/Nsq.java has the consumer's options, --statsd-address too, and its metrics. */
    @Test void aHandlerScriptThroughTheFrontDoorSendsTheConsumersMetrics() throws Exception {
        nsq.prepare("scripted", "h");
        nsq.publish("scripted", 12);
        try (StatsdListener l = new StatsdListener()) {
            java.util.concurrent.atomic.AtomicInteger handled = new java.util.concurrent.atomic.AtomicInteger();
            Nsq.Consumer front = Nsq.consumer("--nsqd", nsq.tcp().toString(), "-s", "scripted", "-g", "h",
                "--count", "12", "--concurrency", "3", "--statsd-address", l.address()).name("handler");
            assertEquals(0, front.run(() -> m -> handled.incrementAndGet()));
            String name = prefix() + "consumer.h.";
            Await.until("the final flush", WAIT, () -> l.sum(name + "finished") == 12);
            assertEquals(12, l.sum(name + "received"));
            assertEquals(0, l.sum(name + "requeued") + l.sum(name + "dead_lettered"));
            assertEquals(12, l.samples(name + "handler_time"), 1e-9, "each handler call timed");
            assertEquals(12, handled.get());
        }
    }

    /**
     * Group sa woken once by the scan, once by push and once by a consumer's deferred-wake note; group "file" has
     * a regular file for a socket: its two wake attempts (the scan's, push's) are errors.
     */
    @Test void wakeupSendsWakesByReasonLatencyScanTimeAndErrors() throws Exception {
        nsq.prepare("sleepy", "sa", "file");
        nsq.publish("sleepy", 1);
        try (StatsdListener l = new StatsdListener()) {
            try (WakeupRun run = new WakeupRun()) {
                WakeSocket.Listener sa = run.listen("sa");
                Files.writeString(run.sockets.resolve("file.sock"), "not a socket");
                wakeup w = run.start("--nsqd-http", nsq.httpAddress().toString(), "--scan-interval", "10m",
                    "--debounce", "0s", "--statsd-address", l.address());
                WakeupRun.assertScanThenPushWake(nsq, "sleepy", sa, w, WAIT);
                Await.until("the wakeup follows the notes", WAIT, () -> {
                    NsqHttp.ChannelStats notes = nsq.channel(DeferredWake.TOPIC, wakeup.OWN_CHANNEL);
                    return notes != null && notes.clientCount() == 1;
                });
                nsq.publish(DeferredWake.TOPIC, List.of(new WakeSocket.Wake("sleepy", "sa").line()));
                Await.until("the note wakes sa", WAIT, () -> sa.wakes() == 3);
                assertEquals("not a socket", w.state("file"));
            } // stops the wakeup: the final flush
            String name = prefix() + "wakeup.";
            Await.until("the final flush", WAIT, () -> l.sum(name + "wakes.deferred") == 1);
            assertEquals(1, l.sum(name + "wakes.scan"), l.lines().toString());
            assertEquals(1, l.sum(name + "wakes.push"), l.lines().toString());
            assertEquals(3, l.samples(name + "wake_latency"), 1e-9, "each wake's round trip");
            assertEquals(1, l.samples(name + "scan_time"), 1e-9, "one scan in 10m");
            assertEquals(2, l.sum(name + "errors.wake"), "file's two attempts: " + l.lines());
            assertEquals(0, l.sum(name + "errors.scan"));
            List<String> groups = l.values(name + "groups", "g");
            assertEquals("2", groups.get(groups.size() - 1), "sa and file are behind a socket: " + groups);
        }
    }

    /** statsd not running: ICMP port unreachable for every datagram, and every tool still exits 0. */
    @Test void nothingListeningEveryToolStillExits0() throws Exception {
        String closed = "127.0.0.1:" + StatsdListener.nobody().getPort();
        nsq.prepare("void", "g");
        producer p = new producer();
        // 20 msg/s for 10: a second of 100 ms intervals, each sent into the void.
        assertEquals(0, Cli.run(p, "-s", "void", "--nsqd", nsq.tcp().toString(), "--count", "10", "--rate", "20",
            "--statsd-address", closed, "--statsd-interval", "100ms"), "producer: " + p.failure());
        assertEquals(10, p.acked());
        ConsumerRun c = new ConsumerRun("-s", "void", "-g", "g", "--nsqd", nsq.tcp().toString(), "--count", "10",
            "--statsd-address", closed, "--statsd-interval", "100ms");
        assertEquals(0, c.await(WAIT), "consumer: " + c.fatal());
        try (WakeupRun run = new WakeupRun()) {
            wakeup w = run.start("--nsqd-http", nsq.httpAddress().toString(), "--scan-interval", "50ms",
                "--statsd-address", closed, "--statsd-interval", "100ms");
            Await.until("scans go on through several refused sends", WAIT, () -> w.scans() >= 10);
            assertEquals(null, w.failure(), "nothing that would make its exit 1");
        }
    }
}
