import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cli.StatsdOptions;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.LongAdder;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import util.Statsd;

/**
 * util.Statsd on loopback UDP, as nsqd speaks to statsd: counters as deltas per interval and once more
 * on close, lines packed into datagrams of at most 1,432 bytes, timers sampled with their rate, and a
 * statsd that is not there costs the tool nothing.
 */
@Tag("unit")
class StatsdTest {
    static final Duration WAIT = Duration.ofSeconds(20);
    /** What a Statsd would log: nothing, when statsd listens. */
    final List<String> warnings = new java.util.concurrent.CopyOnWriteArrayList<>();

    @org.junit.jupiter.api.AfterEach void noWarnings() { assertEquals(List.of(), warnings, "warnings"); }

    static InetSocketAddress at(StatsdListener l) throws Exception { return l.socketAddress(); }

    @Test void countersGoOutAsDeltasEachIntervalAndOnceMoreOnClose() throws Exception {
        try (StatsdListener l = new StatsdListener()) {
            Statsd s = Statsd.start(at(l), "p.", Duration.ofMillis(100), warnings::add);
            LongAdder c = s.counter("jobs");
            c.add(5);
            Await.until("the first 5", WAIT, () -> l.sum("p.jobs") == 5);
            c.add(7);
            Await.until("7 more", WAIT, () -> l.sum("p.jobs") == 12);
            assertTrue(l.values("p.jobs", "c").contains("7"), "the delta, not the total: " + l.values("p.jobs", "c"));
            Await.until("a quiet interval, sent as 0 (as nsqd)", WAIT, () -> l.values("p.jobs", "c").contains("0"));
            c.add(3);
            s.close(); // the final flush, whatever the interval
            Await.until("the last 3, from the final flush", WAIT, () -> l.sum("p.jobs") == 15);
        }
    }

    @Test void linesArePackedIntoDatagramsOfAtMost1432Bytes() throws Exception {
        try (StatsdListener l = new StatsdListener()) {
            Statsd s = Statsd.start(at(l), "mqueue.host.", Duration.ofHours(1), warnings::add);
            List<String> names = new ArrayList<>();
            for (int i = 0; i < 100; i++) {
                String name = "consumer." + "g".repeat(60) + i + ".received";
                names.add("mqueue.host." + name);
                s.counter(name).add(i + 1);
            }
            s.close();
            Await.until("every counter's line", WAIT, () -> l.lines().size() == 100);
            for (String d : l.datagrams()) {
                int bytes = d.getBytes(StandardCharsets.UTF_8).length;
                assertTrue(bytes <= Statsd.MAX_PACKET, "a datagram of " + bytes + " bytes");
                assertTrue(d.endsWith("\n") && d.split("\n").length > 1, "several lines, each ending in \\n: " + d);
            }
            assertTrue(l.datagrams().size() >= 7, "100 lines of ~90 bytes need 7+ datagrams: " + l.datagrams().size());
            for (int i = 0; i < 100; i++) assertEquals(i + 1, l.sum(names.get(i)), names.get(i));
        }
    }

    @Test void timersSendEverySampleOrAUniformSampleWithItsRateAndGaugesTheirValue() throws Exception {
        try (StatsdListener l = new StatsdListener()) {
            Statsd s = Statsd.start(at(l), "", Duration.ofHours(1), warnings::add);
            Statsd.Timer few = s.timer("few"), many = s.timer("many");
            s.gauge("level", () -> 42);
            few.record(1.5);
            few.record(2);
            few.recordNanos(250_000);
            for (int i = 0; i < 1000; i++) many.record(i);
            s.close();
            Await.until("the timers' and the gauge's lines", WAIT,
                () -> l.values("few", "ms").size() == 3 && l.values("many", "ms").size() == Statsd.TIMER_SAMPLES
                    && l.values("level", "g").size() == 1);
            assertEquals(List.of("1.5", "2", "0.25"), l.values("few", "ms"), "every sample, no rate, in milliseconds");
            assertEquals(List.of("42"), l.values("level", "g"), "a gauge: its value");
            List<String> sampled = l.values("many", "ms");
            assertTrue(sampled.stream().allMatch(v -> v.endsWith("|@0.2")), "200 of 1000 kept, at rate 0.2: "
                + sampled);
            assertEquals(1000, l.samples("many"), 1e-6, "statsd still counts every sample");
        }
    }

    /** Nothing listening: ICMP port unreachable comes back, is ignored on purpose, and sending goes on. */
    @Test void nothingListeningNeitherBlocksNorFailsAndSendingGoesOn() throws Exception {
        InetSocketAddress closed = StatsdListener.nobody();
        Statsd s = Statsd.start(closed, "p.", Duration.ofMillis(100), warnings::add);
        LongAdder c = s.counter("jobs");
        c.add(1);
        Await.until("a datagram refused (port unreachable)", WAIT, () -> s.unreachable() >= 1);
        long sent = s.packets();
        Await.until("later datagrams still go out", WAIT, () -> s.packets() > sent);
        long start = System.nanoTime();
        s.close();
        assertTrue(System.nanoTime() - start < Duration.ofSeconds(4).toNanos(), "close never waits on statsd");
        // (noWarnings: nothing listening is not worth a warning)
        assertEquals(1, c.sum(), "counting went on");
    }

    @Test void offCountsAndSendsNothing() throws Exception {
        Statsd s = Statsd.off();
        s.counter("x").add(3);
        s.timer("t").record(1);
        s.close();
        assertEquals(0, s.packets());
        assertTrue(!s.enabled());
    }

    /** nsqd's convention: %s is the host with '.' and ':' turned to '_', and the prefix ends in '.'. */
    @Test void thePrefixIsMqueueAndTheHostKeyedAsNsqdKeysIt() {
        assertEquals("web1_example_com", StatsdOptions.hostKey("web1.example.com"));
        assertEquals("h_4151", StatsdOptions.hostKey("h:4151"));
        StatsdOptions o = new StatsdOptions();
        o.prefix = "mqueue.%s";
        o.interval = Duration.ofSeconds(60);
        String host = o.check().expandedPrefix();
        assertTrue(host.matches("mqueue\\.[A-Za-z0-9_-]+\\."), "mqueue.<host>.: " + host);
        o.prefix = "dc1.%s.tools";
        assertEquals(host.replace("mqueue.", "dc1.") + "tools.", o.check().expandedPrefix(), "a '.' added at the end");
        o.prefix = "";
        assertEquals("", o.check().expandedPrefix(), "none at all");
    }
}
