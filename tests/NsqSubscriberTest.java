import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** lib/NsqSubscriber against real nsqd: delivery, FIN/REQ on the wire at once, drain, reconnect, lookupd. */
class NsqSubscriberTest {
    @RegisterExtension final NsqFixture nsq = new NsqFixture().withLookupd().nsqds(2);

    static void publish(HostPort nsqd, String topic, int from, int n) throws Exception {
        List<byte[]> bodies = new ArrayList<>();
        for (int i = from; i < from + n; i++) bodies.add(("m" + i).getBytes(StandardCharsets.UTF_8));
        try (NsqPublisher pub = new NsqPublisher(nsqd, Duration.ofSeconds(5))) {
            pub.publish(topic, bodies);
        }
    }

    static NsqHttp.ChannelStats channel(NsqHttp http, String topic, String channel) throws Exception {
        NsqHttp.TopicStats t = http.stats(topic, channel).topic(topic);
        return t == null ? null : t.channel(channel);
    }

    @Test void receivesAndFinishesEverything() throws Exception {
        publish(nsq.tcp(), "sub-all", 0, 100);
        Set<String> got = ConcurrentHashMap.newKeySet();
        try (NsqSubscriber sub = new NsqSubscriber("sub-all", "g", 10, m -> {
            got.add(new String(m.body(), StandardCharsets.UTF_8));
            m.finish();
        }).connectTo(List.of(nsq.tcp()))) {
            sub.start();
            assertTrue(sub.awaitReady(Duration.ofSeconds(10)), "connected: " + sub.lastError());
            Await.until("100 messages", Duration.ofSeconds(20), () -> got.size() == 100);
            // FIN is written at once: nsqd's in-flight count drops without waiting for a flush interval.
            Await.until("in_flight_count 0", Duration.ofSeconds(5), () -> channel(nsq.http(), "sub-all", "g").inFlightCount() == 0);
            assertEquals(0, sub.inFlight());
            assertEquals(60_000, sub.msgTimeout().toMillis(), "nsqd's default msg_timeout, from IDENTIFY");
        }
        assertEquals(0, channel(nsq.http(), "sub-all", "g").depth());
    }

    @Test void requeueRedeliversWithAttempts() throws Exception {
        publish(nsq.tcp(), "sub-req", 0, 1);
        List<Integer> attempts = new CopyOnWriteArrayList<>();
        try (NsqSubscriber sub = new NsqSubscriber("sub-req", "g", 1, m -> {
            attempts.add(m.attempts());
            if (m.attempts() < 3) m.requeue(Duration.ZERO);
            else m.finish();
        }).connectTo(List.of(nsq.tcp()))) {
            sub.start();
            Await.until("three deliveries", Duration.ofSeconds(20), () -> attempts.size() == 3);
        }
        assertEquals(List.of(1, 2, 3), attempts);
    }

    @Test void closeRequeuesWhatIsInFlight() throws Exception {
        publish(nsq.tcp(), "sub-drain", 0, 20);
        List<NsqSubscriber.Message> held = new CopyOnWriteArrayList<>();
        NsqSubscriber first = new NsqSubscriber("sub-drain", "g", 5, held::add).connectTo(List.of(nsq.tcp()));
        first.start();
        Await.until("5 held in flight", Duration.ofSeconds(10), () -> held.size() == 5);
        first.pause();
        held.get(0).finish();
        assertEquals(4, first.inFlight());
        Await.until("nsqd sees 4 in flight", Duration.ofSeconds(5), () -> channel(nsq.http(), "sub-drain", "g").inFlightCount() == 4);
        first.close();
        NsqHttp.ChannelStats after = channel(nsq.http(), "sub-drain", "g");
        assertEquals(0, after.inFlightCount(), "nothing left for msg-timeout after close");
        assertEquals(19, after.depth());
        Set<String> second = ConcurrentHashMap.newKeySet();
        try (NsqSubscriber sub = new NsqSubscriber("sub-drain", "g", 50, m -> {
            second.add(new String(m.body(), StandardCharsets.UTF_8));
            m.finish();
        }).connectTo(List.of(nsq.tcp()))) {
            sub.start();
            Await.until("the other 19 at once", Duration.ofSeconds(10), () -> second.size() == 19);
        }
        assertFalse(second.contains(new String(held.get(0).body(), StandardCharsets.UTF_8)), "the finished one is gone");
    }

    @Test void reconnectsAfterNsqdRestart() throws Exception {
        Set<String> got = ConcurrentHashMap.newKeySet();
        try (NsqSubscriber sub = new NsqSubscriber("sub-restart", "g", 10, m -> {
            got.add(new String(m.body(), StandardCharsets.UTF_8));
            m.finish();
        }).connectTo(List.of(nsq.tcp()))) {
            sub.start();
            assertTrue(sub.awaitReady(Duration.ofSeconds(10)));
            publish(nsq.tcp(), "sub-restart", 0, 10);
            Await.until("first 10", Duration.ofSeconds(10), () -> got.size() == 10);
            nsq.nsqd().restart();
            publish(nsq.tcp(), "sub-restart", 10, 10);
            Await.until("all 20 after the restart", Duration.ofSeconds(20), () -> got.size() == 20);
            assertEquals(1, sub.connections());
        }
    }

    @Test void lookupdFindsBothNodesAndOneThatAppearsLater() throws Exception {
        publish(nsq.nsqd(0).tcp(), "sub-lookup", 0, 10);
        Set<String> got = ConcurrentHashMap.newKeySet();
        List<HostPort> from = new CopyOnWriteArrayList<>();
        try (NsqSubscriber sub = new NsqSubscriber("sub-lookup", "g", 10, m -> {
            got.add(new String(m.body(), StandardCharsets.UTF_8));
            from.add(m.from());
            m.finish();
        }).discoverWith(List.of(nsq.lookupd().http()), Duration.ofMillis(300))) {
            sub.start();
            Await.until("10 from nsqd0", Duration.ofSeconds(20), () -> got.size() == 10);
            publish(nsq.nsqd(1).tcp(), "sub-lookup", 10, 10);
            Await.until("10 more from nsqd1, found later", Duration.ofSeconds(20), () -> got.size() == 20);
            assertEquals(2, sub.connections());
        }
        assertTrue(from.contains(nsq.nsqd(0).tcp()) && from.contains(nsq.nsqd(1).tcp()), from.toString());
    }

    @Test void unreachableNodeIsRetriedAndReported() throws Exception {
        HostPort nowhere = new HostPort("127.0.0.1", NsqFixture.freePort());
        try (NsqSubscriber sub = new NsqSubscriber("sub-none", "g", 1, NsqSubscriber.Message::finish)
                .connectTo(List.of(nowhere))) {
            sub.start();
            assertFalse(sub.awaitReady(Duration.ofMillis(700)));
            assertTrue(sub.lastError().contains(nowhere.toString()), sub.lastError());
        }
    }
}
