import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import nsq.NsqConfig;
import nsq.NsqLogger;
import nsq.WriteDeadlines;
import nsq.publish.Publisher;
import nsq.subscribe.Subscriber;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Every socket write has a deadline (NsqConfig.writeTimeout, kept by nsq.WriteDeadlines): a peer that stops reading
 * (a SIGSTOPped nsqd, a full link) is dropped when a write to it blocks that long, and no other connection waits for
 * it. Java's socket writes have no timeout of their own: without the deadline these writes block forever.
 */
class WriteDeadlineTest {
    @RegisterExtension final NsqFixture nsq = new NsqFixture();

    static final Duration LIMIT = Duration.ofSeconds(1);
    static final NsqConfig CONFIG = NsqConfig.defaults().withWriteTimeout(LIMIT);

    @Test void aPublishToAPeerThatStopsReadingFailsAtItsDeadline() throws Exception {
        List<byte[]> batch = Collections.nCopies(64, new byte[256 * 1024]); // 16 MiB: past every buffer on the way
        try (FakePeer deaf = FakePeer.deafNsqd(false); Publisher p = new Publisher(deaf.address(), CONFIG)) {
            long start = System.nanoTime();
            IOException e = assertTimeoutPreemptively(Duration.ofSeconds(30), () -> assertThrows(IOException.class,
                () -> p.publish("t", batch)), "a write without a deadline blocks as long as the peer does not read");
            Duration took = Duration.ofNanos(System.nanoTime() - start);
            assertTrue(e.getMessage().contains("took no write for 1s"), e.toString());
            // Caught between the limit and 1.25 times it; the bound here is generous (a loaded machine).
            assertTrue(took.compareTo(LIMIT.multipliedBy(10)) < 0, "failed after " + took);
        }
    }

    @Test void aSubscriberDropsAConnectionWhosePeerStopsReadingAndTheOthersFlow() throws Exception {
        int n = 20_000;
        nsq.prepare("t", "g");
        List<String> lines = Collections.synchronizedList(new ArrayList<>());
        NsqLogger log = (level, message) -> lines.add(level + " " + message);
        Set<String> fromNsqd = ConcurrentHashMap.newKeySet();
        AtomicInteger fromDeaf = new AtomicInteger();
        try (FakePeer deaf = FakePeer.deafNsqd(true);
             Subscriber sub = new Subscriber(CONFIG.withLogger(log), List.of("t"), "g", 200, m -> {
                 if (m.from().equals(nsq.tcp())) fromNsqd.add(new String(m.body(), StandardCharsets.UTF_8));
                 else fromDeaf.incrementAndGet();
                 m.finish(); // to the deaf peer, these FINs back up until a write blocks past its deadline
             }).connectTo(List.of(nsq.tcp(), deaf.address()))) {
            sub.start();
            // A loaded machine may first see the deaf peer stall inside a frame (also dropped); a write past its
            // deadline comes on this or a later connection to it.
            Await.until("a write to the deaf peer past its deadline, the connection dropped", Duration.ofSeconds(60),
                () -> dropped(lines));
            // nsqd's connection was never held up by the deaf one: what is published now all comes.
            nsq.publish("t", NsqFixture.bodies("m", n));
            Await.until(n + " messages from nsqd", Duration.ofSeconds(60), () -> fromNsqd.size() == n);
        }
        assertTrue(fromDeaf.get() > 0, "the deaf peer's messages were read");
    }

    @Test void aShortDeadlineIsKeptWhileTheWatchdogWaitsOnALongOne() throws Exception {
        // A connection with a 60 s write timeout is watched, the watchdog waits out a quarter of that; a publish
        // with a 200 ms timeout begins a write that never returns. It is caught by 1.25 times its own limit: before,
        // the watchdog slept through the long wait (15 s), and a watch cancelled at the wrong moment put it to sleep
        // for good.
        WriteDeadlines.Watch slow = WriteDeadlines.SHARED.watch(Duration.ofSeconds(60), () -> { });
        CountDownLatch expired = new CountDownLatch(1);
        WriteDeadlines.Watch fast = null;
        try {
            slow.begin();
            Await.until("the watchdog waiting with a timeout", Duration.ofSeconds(10), () -> Thread.getAllStackTraces()
                .keySet().stream().anyMatch(t -> t.getName().equals("nsq-write-deadlines")
                    && t.getState() == Thread.State.TIMED_WAITING));
            fast = WriteDeadlines.SHARED.watch(Duration.ofMillis(200), expired::countDown);
            fast.begin();
            // A bound far above 250 ms (a loaded machine), far below the 15 s the watchdog waits for the slow one.
            assertTrue(expired.await(5, TimeUnit.SECONDS), "the 200 ms write was not caught within 5 s");
            assertTrue(fast.expired());
        } finally {
            slow.cancel();
            if (fast != null) fast.cancel();
        }
    }

    /** The subscriber's warning when it drops a connection for a write past its deadline, saying so. */
    static boolean dropped(List<String> lines) {
        synchronized (lines) {
            return lines.stream().anyMatch(l -> l.startsWith("WARN") && l.contains("connection lost")
                && l.contains("took no write for 1s"));
        }
    }
}
