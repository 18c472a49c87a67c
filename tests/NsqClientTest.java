import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import nsq.Connection;
import nsq.HostPort;
import nsq.NsqConfig;
import nsq.NsqException;
import nsq.http.NsqHttp;
import nsq.publish.Publisher;
import nsq.subscribe.Message;
import nsq.subscribe.Subscriber;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The NSQ client (lib/nsq) against real nsqd: IDENTIFY, delivery, FIN/REQ at once, RDY bounds, drain, reconnect,
 * lookupd, peers that are not nsqd.
 */
class NsqClientTest {
    @RegisterExtension final NsqFixture nsq = new NsqFixture().withLookupd().nsqds(2);

    static final NsqConfig CONFIG = NsqConfig.defaults();

    static Subscriber subscriber(String topic, int maxInFlight, Consumer<Message> handler) {
        return new Subscriber(CONFIG, List.of(topic), "g", maxInFlight, handler::accept);
    }

    static String text(Message m) { return new String(m.body(), StandardCharsets.UTF_8); }

    @Test void identifyAnswerOfARealNsqd() throws Exception {
        try (Connection c = Connection.open(nsq.tcp(), CONFIG)) {
            assertEquals(60_000, c.negotiated().msgTimeout().toMillis(), "nsqd's default --msg-timeout");
            assertEquals(2500, c.negotiated().maxRdyCount(), "nsqd's default --max-rdy-count");
            assertTrue(c.negotiated().version().startsWith("1.3"), c.negotiated().version());
        }
    }

    @Test void namesItsHostToNsqdAsTheKernelHasItLikeGoNsq() throws Exception {
        // go-nsq sends os.Hostname(), the kernel's name: never a DNS answer (systemd sets no $HOSTNAME).
        String kernel = Files.readString(Path.of("/proc/sys/kernel/hostname")).strip();
        try (Subscriber sub = subscriber("lib-host", 1, Message::finish).connectTo(List.of(nsq.tcp()))) {
            sub.start();
            assertTrue(sub.awaitReady(Duration.ofSeconds(10)), "connected: " + sub.lastError());
            JsonNode clients = nsq.nsqd().channelWithClients("lib-host", "g").path("clients");
            assertEquals(1, clients.size(), clients.toString());
            assertEquals(kernel, clients.path(0).path("hostname").asText(), clients.toString());
        }
    }

    @Test void publisherReportsOversizeWithBothSizesAndSendsNoCls() throws Exception {
        try (Publisher pub = new Publisher(nsq.tcp(), CONFIG)) {
            pub.publish("lib-ok", "x".getBytes(StandardCharsets.UTF_8));
        }
        try (Publisher pub = new Publisher(nsq.tcp(), CONFIG)) {
            var e = assertThrows(NsqException.ErrorResponse.class, () -> pub.publish("lib-big", new byte[1024 * 1024
                + 1]));
            assertEquals("E_BAD_MESSAGE", e.code());
            assertTrue(e.getMessage().contains("1048577 > 1048576"), e.getMessage());
        }
        assertFalse(nsq.nsqd().tail().contains("cannot CLS"), "a publisher never sends CLS: " + nsq.nsqd().tail());
    }

    @Test void receivesAndFinishesEverything() throws Exception {
        nsq.publish("sub-all", NsqFixture.bodies("m", 100));
        Set<String> got = ConcurrentHashMap.newKeySet();
        try (Subscriber sub = subscriber("sub-all", 10, m -> {
            got.add(text(m));
            m.finish();
        }).connectTo(List.of(nsq.tcp()))) {
            sub.start();
            assertTrue(sub.awaitReady(Duration.ofSeconds(10)), "connected: " + sub.lastError());
            Await.until("100 messages", Duration.ofSeconds(20), () -> got.size() == 100);
            // FIN is written at once: nsqd's in-flight count drops without waiting for a flush interval.
            Await.until("in_flight_count 0", Duration.ofSeconds(5), () -> nsq.channel("sub-all",
                "g").inFlightCount() == 0);
            assertEquals(0, sub.inFlight());
            assertEquals(60_000, sub.msgTimeout().toMillis(), "nsqd's default msg_timeout, from IDENTIFY");
        }
        assertEquals(0, nsq.channel("sub-all", "g").depth());
    }

    @Test void batchesEndWhenNothingIsBufferedAndFinishAllAnswersThem() throws Exception {
        nsq.publish("sub-batch", NsqFixture.bodies("m", 50));
        List<Message> batch = new CopyOnWriteArrayList<>();
        AtomicInteger finished = new AtomicInteger();
        try (Subscriber sub = new Subscriber(CONFIG, List.of("sub-batch"), "g", 100, new Subscriber.Handler() {
            @Override public void onMessage(Message m) { batch.add(m); }
            @Override public void onBatchEnd() {
                List<Message> done = new ArrayList<>(batch);
                batch.removeAll(done);
                Subscriber.finishAll(done);
                finished.addAndGet(done.size());
            }
        }).connectTo(List.of(nsq.tcp()))) {
            sub.start();
            Await.until("50 finished in batches", Duration.ofSeconds(20), () -> finished.get() == 50);
            assertEquals(0, sub.inFlight());
            Await.until("nsqd: nothing in flight", Duration.ofSeconds(5), () -> nsq.channel("sub-batch",
                "g").inFlightCount() == 0);
        }
    }

    @Test void answersHeartbeatsAndStaysConnected() throws Exception {
        Set<String> got = ConcurrentHashMap.newKeySet();
        try (Subscriber sub = new Subscriber(CONFIG.withHeartbeatInterval(Duration.ofSeconds(1)), List.of("sub-hb"),
                "g", 1, m -> {
            got.add(text(m));
            m.finish();
        }).connectTo(List.of(nsq.tcp()))) {
            sub.start();
            assertTrue(sub.awaitReady(Duration.ofSeconds(10)));
            // nsqd drops a client that misses two heartbeats: after 3.5 s of them the same connection still delivers.
            long since = System.nanoTime();
            Await.until("3.5 s of 1 s heartbeats", Duration.ofSeconds(10), () -> System.nanoTime()
                - since > 3_500_000_000L);
            assertEquals(1, sub.connections());
            nsq.publish("sub-hb", List.of("m0"));
            Await.until("delivered on the same connection", Duration.ofSeconds(10), () -> got.size() == 1);
            assertEquals(1, sub.subscriptions(), "never reconnected: every heartbeat was answered");
        }
    }

    @Test void requeueRedeliversWithAttemptsAndClampsLikeNsqd() throws Exception {
        nsq.publish("sub-req", List.of("m0"));
        List<Integer> attempts = new CopyOnWriteArrayList<>();
        List<Duration> used = new CopyOnWriteArrayList<>();
        try (Subscriber sub = subscriber("sub-req", 1, m -> {
            attempts.add(m.attempts());
            if (m.attempts() < 3) used.add(m.requeue(Duration.ofHours(m.attempts() * 2L)));
            else m.finish();
        }).connectTo(List.of(nsq.tcp())).maxReqTimeout(Duration.ZERO)) {
            sub.start();
            Await.until("three deliveries", Duration.ofSeconds(20), () -> attempts.size() == 3);
        }
        assertEquals(List.of(1, 2, 3), attempts);
        assertEquals(List.of(Duration.ZERO, Duration.ZERO), used, "clamped to the max-req-timeout, as nsqd clamps");
    }

    @Test void closeRequeuesWhatIsInFlight() throws Exception {
        nsq.publish("sub-drain", NsqFixture.bodies("m", 20));
        List<Message> held = new CopyOnWriteArrayList<>();
        Subscriber first = subscriber("sub-drain", 5, held::add).connectTo(List.of(nsq.tcp()));
        first.start();
        Await.until("5 held in flight", Duration.ofSeconds(10), () -> held.size() == 5);
        first.pause();
        held.get(0).finish();
        assertEquals(4, first.inFlight());
        Await.until("nsqd sees 4 in flight", Duration.ofSeconds(5), () -> nsq.channel("sub-drain",
            "g").inFlightCount() == 4);
        first.close();
        assertEquals(4, first.requeuedOnClose());
        NsqHttp.ChannelStats after = nsq.channel("sub-drain", "g");
        assertEquals(0, after.inFlightCount(), "nothing left for msg-timeout after close");
        assertEquals(19, after.depth());
        Set<String> second = ConcurrentHashMap.newKeySet();
        try (Subscriber sub = subscriber("sub-drain", 50, m -> {
            second.add(text(m));
            m.finish();
        }).connectTo(List.of(nsq.tcp()))) {
            sub.start();
            Await.until("the other 19 at once", Duration.ofSeconds(10), () -> second.size() == 19);
        }
        assertFalse(second.contains(text(held.get(0))), "the finished one is gone");
    }

    @Test void maxInFlightHoldsAcrossNodesTopicsAndConnections() throws Exception {
        for (int i = 0; i < 2; i++) {
            nsq.nsqd(i).publish("rdy-a", NsqFixture.bodies("a" + i + "-", 15));
            nsq.nsqd(i).publish("rdy-b", NsqFixture.bodies("b" + i + "-", 15));
        }
        Set<String> got = ConcurrentHashMap.newKeySet();
        AtomicInteger holding = new AtomicInteger(), most = new AtomicInteger();
        List<Message> held = new CopyOnWriteArrayList<>();
        // Eight connections (2 topics x 2 nsqd x 2 each), one slot: a message is held 20 ms, then finished by another
        // thread.
        try (Subscriber sub = new Subscriber(CONFIG, List.of("rdy-a", "rdy-b"), "g", 1, m -> {
            most.accumulateAndGet(holding.incrementAndGet(), Math::max);
            held.add(m);
        }).connectionsPerNode(2).connectTo(List.of(nsq.nsqd(0).tcp(), nsq.nsqd(1).tcp()))) {
            sub.start();
            Await.until("8 connections", Duration.ofSeconds(10), () -> sub.connections() == 8);
            Await.until("all 60 messages, one at a time", Duration.ofSeconds(60), () -> {
                for (Message m : held) {
                    Thread.sleep(20);
                    held.remove(m);
                    holding.decrementAndGet();
                    got.add(text(m));
                    m.finish();
                }
                long inFlight = 0;
                for (int i = 0; i < 2; i++) {
                    for (String t : List.of("rdy-a", "rdy-b")) {
                        NsqHttp.ChannelStats c = nsq.nsqd(i).channel(t, "g");
                        inFlight += c == null ? 0 : c.inFlightCount();
                    }
                }
                assertTrue(inFlight <= 1, "nsqd reports " + inFlight + " in flight across nodes and topics");
                return got.size() == 60;
            });
        }
        assertEquals(1, most.get(), "never more than one message held at once");
    }

    @Test void reconnectsAfterNsqdRestart() throws Exception {
        Set<String> got = ConcurrentHashMap.newKeySet();
        try (Subscriber sub = subscriber("sub-restart", 10, m -> {
            got.add(text(m));
            m.finish();
        }).connectTo(List.of(nsq.tcp()))) {
            sub.start();
            assertTrue(sub.awaitReady(Duration.ofSeconds(10)));
            nsq.publish("sub-restart", NsqFixture.bodies("m", 10));
            Await.until("first 10", Duration.ofSeconds(10), () -> got.size() == 10);
            nsq.nsqd().restart();
            nsq.publish("sub-restart", NsqFixture.bodies("n", 10));
            Await.until("all 20 after the restart", Duration.ofSeconds(20), () -> got.size() == 20);
            assertEquals(1, sub.connections());
            assertEquals(2, sub.subscriptions(), "one reconnect");
        }
    }

    @Test void lookupdFindsBothNodesAndOneThatAppearsLater() throws Exception {
        nsq.nsqd(0).publish("sub-lookup", NsqFixture.bodies("m", 10));
        Set<String> got = ConcurrentHashMap.newKeySet();
        List<HostPort> from = new CopyOnWriteArrayList<>();
        try (Subscriber sub = subscriber("sub-lookup", 10, m -> {
            got.add(text(m));
            from.add(m.from());
            m.finish();
        }).discoverWith(List.of(nsq.lookupd().httpAddress()), Duration.ofMillis(300))) {
            sub.start();
            Await.until("10 from nsqd0", Duration.ofSeconds(20), () -> got.size() == 10);
            nsq.nsqd(1).publish("sub-lookup", NsqFixture.bodies("n", 10));
            Await.until("10 more from nsqd1, found later", Duration.ofSeconds(20), () -> got.size() == 20);
            assertEquals(2, sub.connections());
        }
        assertTrue(from.contains(nsq.nsqd(0).tcp()) && from.contains(nsq.nsqd(1).tcp()), from.toString());
    }

    @Test void awaitReadyGivesUpOnRefusalsAtTheirBoundNotAtTheTimeout() throws Exception {
        HostPort nowhere = new HostPort("127.0.0.1", NsqFixture.freePort());
        try (Subscriber sub = subscriber("sub-none", 1, Message::finish).connectTo(List.of(nowhere))) {
            sub.start();
            long start = System.nanoTime();
            Subscriber.Readiness r = sub.awaitReady(Duration.ofSeconds(60), Duration.ofMillis(500));
            Duration took = Duration.ofNanos(System.nanoTime() - start);
            assertEquals(Subscriber.Readiness.REFUSED, r, sub.lastError());
            assertTrue(took.compareTo(Duration.ofSeconds(30)) < 0, "gave up at the refusal bound: " + took);
        }
        NsqConfig quick = CONFIG.withHandshakeTimeout(Duration.ofMillis(200));
        try (FakePeer silent = FakePeer.silent();
             Subscriber sub = new Subscriber(quick, List.of("t"), "g", 1, Message::finish)
                 .connectTo(List.of(silent.address()))) {
            sub.start();
            assertEquals(Subscriber.Readiness.TIMED_OUT, sub.awaitReady(Duration.ofSeconds(2), Duration.ofMillis(100)),
                "silence is an outage, not a refusal: only the timeout ends the wait");
            Thread canceller = new Thread(sub::cancelWaits);
            canceller.start();
            assertEquals(Subscriber.Readiness.CANCELLED, sub.awaitReady(Duration.ofMinutes(5), Duration.ofMinutes(5)));
            canceller.join();
        }
    }

    /**
     * A lookup-found node's reader leaves when nsqlookupd stops listing its nsqd, and a poll that lists it again while
     * it leaves must not lose it (before: wanted=true on a thread already out of its loop, which then removed itself,
     * and the nsqd was dropped until the poll after). Each round: nsqd0 goes, comes back and is announced again, and
     * what it then has is read; in even rounds after its reader left, in odd ones at once (while it leaves).
     */
    @Test void anNsqdAnnouncedAgainWhileItsReaderLeavesIsJoinedAtTheNextPoll() throws Exception {
        nsq.nsqd(0).prepare("sub-rejoin", "g");
        nsq.nsqd(1).prepare("sub-rejoin", "g");
        Set<String> got = ConcurrentHashMap.newKeySet();
        try (Subscriber sub = subscriber("sub-rejoin", 10, m -> {
            got.add(text(m));
            m.finish();
        }).discoverWith(List.of(nsq.lookupd().httpAddress()), Duration.ofMillis(100))) {
            sub.start();
            Await.until("both nsqd joined", Duration.ofSeconds(20), () -> sub.connections() == 2);
            int expected = 0;
            for (int round = 0; round < 4; round++) {
                nsq.nsqd(0).sigterm(); // nsqlookupd drops it: the next poll no longer lists it, its reader leaves
                nsq.nsqd(1).publish("sub-rejoin", NsqFixture.bodies("n" + round + "-", 5));
                expected += 5;
                int want = expected;
                Await.until("nsqd1 read on", Duration.ofSeconds(20), () -> got.size() == want);
                if (round % 2 == 0) {
                    HostPort gone = nsq.nsqd(0).tcp();
                    Await.until("nsqd0's reader left", Duration.ofSeconds(20), () -> !sub.following().contains(gone));
                }
                nsq.nsqd(0).start(); // announced again (its topic is on disk)
                nsq.nsqd(0).publish("sub-rejoin", NsqFixture.bodies("m" + round + "-", 5));
                expected += 5;
                int all = expected;
                Await.until("round " + round + ": nsqd0 joined, read", Duration.ofSeconds(20), () -> got.size() == all);
                Await.until("two connections again", Duration.ofSeconds(20), () -> sub.connections() == 2);
            }
        }
    }

    @Test void unreachableNodeIsRetriedAndReported() throws Exception {
        HostPort nowhere = new HostPort("127.0.0.1", NsqFixture.freePort());
        try (Subscriber sub = subscriber("sub-none", 1, Message::finish).connectTo(List.of(nowhere))) {
            sub.start();
            assertFalse(sub.awaitReady(Duration.ofMillis(700)));
            assertTrue(sub.lastError().contains(nowhere.toString()), sub.lastError());
            assertTrue(sub.refused());
            assertEquals(null, sub.fatal(), "a refused connection is transient");
        }
    }

    /** What nsqd never sends is named at once, fatal, never retried: its HTTP port, garbage, an impossible frame. */
    @Test void peersThatAreNotNsqdFailFastAndForGood() throws Exception {
        assertNotNsqd(nsq.httpAddress(), "it answered HTTP (\"HTTP/1.1 400 Bad Request\")");
        try (FakePeer garbage =
                FakePeer.answering("\u0001\u0002garbage\u0000\u0000\u0000\u0000".getBytes(StandardCharsets.ISO_8859_1)))
                {
            assertNotNsqd(garbage.address(), "it sent a frame of");
        }
        try (FakePeer huge = FakePeer.hugeFrameAfterIdentify(Integer.MAX_VALUE)) {
            HostPort a = huge.address();
            AtomicInteger fatal = new AtomicInteger();
            try (Subscriber sub = new Subscriber(CONFIG, List.of("t"), "g", 1, new Subscriber.Handler() {
                @Override public void onMessage(Message m) { m.finish(); }
                @Override public void onFatal(NsqException e) { fatal.incrementAndGet(); }
            }).connectTo(List.of(a))) {
                sub.start();
                Await.until("the impossible frame is fatal", Duration.ofSeconds(2), () -> sub.fatal() != null);
                assertTrue(sub.fatal().getMessage().contains("2147483647"), sub.fatal().getMessage());
                assertEquals(1, fatal.get(), "reported once, not retried");
            }
        }
    }

    /**
     * Silence proves nothing: a SIGSTOPped nsqd takes connections in its kernel and says nothing. A peer that does not
     * answer IDENTIFY is a transient failure that names what was waited for, and a subscriber keeps trying it.
     */
    @Test void aSilentPeerIsAnOutageNotAWrongPeer() throws Exception {
        try (FakePeer silent = FakePeer.silent()) {
            NsqConfig quick = CONFIG.withHandshakeTimeout(Duration.ofMillis(300));
            IOException e = assertThrows(IOException.class, () -> Connection.open(silent.address(), quick).close());
            assertFalse(NsqException.isFatal(e), "silence is not fatal: " + e);
            assertTrue(e.getMessage().contains(silent.address().toString())
                && e.getMessage().contains("did not answer IDENTIFY within 300 ms"),
                e.getMessage());

            try (Subscriber sub = new Subscriber(quick, List.of("t"), "g", 1,
                    m -> m.finish()).connectTo(List.of(silent.address()))) {
                int before = silent.connections();
                sub.start();
                Await.until("a second try at the silent peer", Duration.ofSeconds(10),
                    () -> silent.connections() >= before + 2);
                assertEquals(null, sub.fatal(), "retried, not given up");
                assertFalse(sub.listening(), "a connection that never subscribed cannot show a message: not idle");
                assertTrue(sub.lastError().contains("did not answer IDENTIFY"), sub.lastError());
            }
        }
    }

    static void assertNotNsqd(HostPort peer, String says) {
        long t0 = System.nanoTime();
        IOException e = assertThrows(IOException.class, () -> Connection.open(peer, CONFIG).close());
        assertTrue(System.nanoTime() - t0 < 2_000_000_000L, "within 2 s: " + (System.nanoTime() - t0) / 1_000_000
            + " ms");
        assertTrue(e instanceof NsqException.NotNsqd && ((NsqException) e).fatal(), e.toString());
        assertTrue(e.getMessage().contains(peer.toString()) && e.getMessage().contains(says), e.getMessage());
    }
}
