import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import consume.MessageLifecycle;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import nsq.HostPort;
import nsq.subscribe.Message;
import nsq.subscribe.RdyShares;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import util.Backoff;

/**
 * The consumer's rules for each message (--count, requeue backoff, drain) and how RDY is shared; answers recorded, no
 * nsqd.
 */
@Tag("unit")
class MessageLifecycleTest {
    /**
     * Records the commands messages would send, and REQ delays clamped at 5 s as an nsqd with --max-req-timeout=5s
     * would.
     */
    static final class Recorder implements Message.Delegate, MessageLifecycle.Flow {
        final List<String> sent = new ArrayList<>();
        final AtomicInteger pauses = new AtomicInteger(), resumes = new AtomicInteger();
        private int next;

        Message message(int attempts) {
            byte[] id = String.format("%016d", next++).getBytes(StandardCharsets.US_ASCII);
            return new Message(this, id, attempts, 0, ("body" + next).getBytes(StandardCharsets.US_ASCII));
        }

        @Override public synchronized void finish(Message m) { sent.add("FIN " + m.id()); }
        @Override public synchronized void requeue(Message m, Duration d) { sent.add("REQ " + m.id() + " "
            + d.toMillis()); }
        @Override public synchronized void touch(Message m) { sent.add("TOUCH " + m.id()); }
        @Override public String topic() { return "s"; }
        @Override public HostPort address() { return new HostPort("127.0.0.1", 4150); }
        @Override public Duration clampRequeue(Duration d) { return d.compareTo(Duration.ofSeconds(5)) > 0
            ? Duration.ofSeconds(5) : d; }
        @Override public void pause() { pauses.incrementAndGet(); }
        @Override public void resume() { resumes.incrementAndGet(); }
    }

    static MessageLifecycle lifecycle(long count, Recorder r) {
        MessageLifecycle l = new MessageLifecycle(count, 0, new Backoff(Duration.ofSeconds(1), Duration.ofMinutes(2)),
            "g", null, b -> {});
        l.flow(r);
        return l;
    }

    @Test void countIsAReservationThatPausesAtTheLastSlot() {
        Recorder r = new Recorder();
        MessageLifecycle l = lifecycle(2, r);
        Message a = r.message(1), b = r.message(1), c = r.message(1);
        assertTrue(l.admit(a));
        assertEquals(0, r.pauses.get());
        assertTrue(l.admit(b));
        assertEquals(1, r.pauses.get(), "the message that takes the last slot asks for no more");
        assertFalse(l.admit(c), "past --count");
        assertEquals(List.of("REQ " + c.id() + " 0"), r.sent, "sent straight back for the next consumer");
        l.finish(a);
        assertFalse(l.limitReached());
        l.finish(b);
        assertTrue(l.limitReached());
        assertEquals(2, l.handled());
        assertEquals(1, l.requeued());
    }

    @Test void aFailureRequeuesWithBackoffAndGivesItsSlotBack() {
        Recorder r = new Recorder();
        MessageLifecycle l = lifecycle(1, r);
        Message first = r.message(3);
        assertTrue(l.admit(first));
        assertEquals(1, r.pauses.get());
        l.failed("s", first, "exit status 1");
        assertEquals(List.of("REQ " + first.id() + " 4000"), r.sent, "1s doubled per attempt: the third waits 4s");
        assertEquals(1, r.resumes.get(), "its --count slot goes to another message");
        Message again = r.message(4);
        assertTrue(l.admit(again));
        l.failed("s", again, "exit status 1");
        assertEquals("REQ " + again.id() + " 5000", r.sent.get(1),
            "8s asked, 5s is what nsqd does (its --max-req-timeout)");
    }

    @Test void drainSendsEverythingBackAtOnce() {
        Recorder r = new Recorder();
        MessageLifecycle l = lifecycle(0, r);
        l.drain();
        Message m = r.message(1);
        assertFalse(l.admit(m));
        assertEquals(List.of("REQ " + m.id() + " 0"), r.sent);
        assertFalse(m.finish(), "answered once only");
        assertEquals(1, r.sent.size());
    }

    @Test void aMessageTurnedAwayHoldsNoSlot() {
        Recorder r = new Recorder();
        MessageLifecycle l = lifecycle(1, r);
        Message first = r.message(1), late = r.message(1), next = r.message(1);
        assertTrue(l.admit(first));
        assertFalse(l.admit(late), "it was on its way when the pause went out: sent back");
        l.failed("s", first, "exit status 1");
        assertEquals(1, r.resumes.get(), "the failed one's slot is free again");
        assertTrue(l.admit(next), "and the next message takes it");
        l.finish(next);
        assertTrue(l.limitReached());
    }

    @Test void everyWayOutGivesTheSlotBackOnce() {
        Recorder r = new Recorder();
        MessageLifecycle l = lifecycle(3, r);
        Message a = r.message(1), b = r.message(1), c = r.message(1);
        for (Message m : List.of(a, b, c)) assertTrue(l.admit(m));
        assertEquals(1, r.pauses.get());
        l.requeueNow(a); // output gone, or killed for the drain
        assertEquals(1, r.resumes.get());
        Message d = r.message(1);
        assertTrue(l.admit(d));
        assertEquals(2, r.pauses.get());
        b.requeue(Duration.ZERO); // answered elsewhere (the subscriber's close)
        l.release(b);
        l.release(b);
        l.finish(b);
        assertEquals(2, r.resumes.get(), "released once, however often it is said");
        Message e = r.message(1);
        assertTrue(l.admit(e));
        assertFalse(l.admit(r.message(1)), "three held: c, d, e");
        for (Message m : List.of(c, d, e)) l.finish(m);
        assertEquals(3, l.handled());
        assertTrue(l.limitReached());
        assertFalse(l.admit(r.message(1)), "--count reached: nothing more");
    }

    /** A resume still on its way must not land after the pause a later admit asked for. */
    @Test void pauseAndResumeReachTheSubscriberInTheOrderTheyWereDecided() throws Exception {
        Recorder r = new Recorder();
        CountDownLatch resuming = new CountDownLatch(1), letResumeLand = new CountDownLatch(1);
        List<String> calls = Collections.synchronizedList(new ArrayList<>());
        MessageLifecycle l = lifecycle(1, r);
        l.flow(new MessageLifecycle.Flow() {
            @Override public void pause() { calls.add("pause"); }
            @Override public void resume() {
                resuming.countDown();
                try {
                    assertTrue(letResumeLand.await(30, TimeUnit.SECONDS));
                } catch (InterruptedException e) {
                    throw new AssertionError(e);
                }
                calls.add("resume");
            }
        });
        Message first = r.message(1), second = r.message(1);
        assertTrue(l.admit(first));
        Thread worker = new Thread(() -> l.failed("s", first, "exit status 1"), "worker");
        worker.start();
        assertTrue(resuming.await(30, TimeUnit.SECONDS), "the failure's resume is on its way");
        assertTrue(l.admit(second), "the freed slot");
        letResumeLand.countDown();
        worker.join(30_000);
        assertFalse(worker.isAlive());
        assertEquals(List.of("pause", "resume", "pause"), calls,
            "the last word is the pause the second message asked for");
    }

    /**
     * Eight threads admit, finish, requeue and release at once: exactly --count are handled, and the subscriber ends
     * paused.
     */
    @Test void countHoldsUnderContention() throws Exception {
        int limit = 10_000, threads = 8;
        AtomicLong fins = new AtomicLong(), reqs = new AtomicLong(), elsewhere = new AtomicLong();
        AtomicInteger ids = new AtomicInteger();
        List<String> calls = Collections.synchronizedList(new ArrayList<>());
        Message.Delegate counting = new Message.Delegate() {
            @Override public void finish(Message m) { fins.incrementAndGet(); }
            @Override public void requeue(Message m, Duration d) { reqs.incrementAndGet(); }
            @Override public void touch(Message m) {}
            @Override public String topic() { return "s"; }
            @Override public HostPort address() { return new HostPort("127.0.0.1", 4150); }
        };
        MessageLifecycle l = new MessageLifecycle(limit, 0, new Backoff(Duration.ofSeconds(1), Duration.ofMinutes(2)),
            "g", null, b -> {});
        l.flow(new MessageLifecycle.Flow() {
            @Override public void pause() { calls.add("pause"); }
            @Override public void resume() { calls.add("resume"); }
        });
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        try {
            List<Future<?>> done = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                done.add(pool.submit(() -> {
                    ThreadLocalRandom rnd = ThreadLocalRandom.current();
                    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
                    while (!l.limitReached()) {
                        if (System.nanoTime() > deadline) throw new AssertionError("stuck at handled=" + l.handled());
                        byte[] id = String.format("%016d", ids.incrementAndGet()).getBytes(StandardCharsets.US_ASCII);
                        Message m = new Message(counting, id, 1, 0, id);
                        if (!l.admit(m)) {
                            Thread.yield();
                            continue;
                        }
                        int way = rnd.nextInt(10);
                        if (way < 6) {
                            l.finish(m);
                        } else if (way < 9) {
                            l.requeueNow(m);
                        } else {
                            m.requeue(Duration.ZERO); // answered by someone else
                            elsewhere.incrementAndGet();
                            l.release(m);
                        }
                    }
                    return null;
                }));
            }
            for (Future<?> f : done) f.get(90, TimeUnit.SECONDS);
        } finally {
            pool.shutdownNow();
        }
        assertEquals(limit, l.handled());
        assertEquals(limit, fins.get(), "FIN for exactly --count messages");
        assertEquals(reqs.get(), l.requeued() + elsewhere.get(), "every REQ it sent is counted");
        assertEquals("pause", calls.get(calls.size() - 1), "it ends paused: every slot used");
    }

    @Test void rdySharesNeverExceedTheBudget() {
        int[] even = RdyShares.of(2500, new long[] {2500, 2500, 2500}, 0);
        assertEquals(2500, even[0] + even[1] + even[2]);
        assertEquals(834, even[0]);
        assertEquals(833, even[2]);
        int[] capped = RdyShares.of(2500, new long[] {50, 2500}, 0);
        assertEquals(50, capped[0], "within that nsqd's max_rdy_count");
        int[] one = RdyShares.of(1, new long[] {2500, 2500}, 0);
        assertEquals(1, one[0] + one[1], "--max-in-flight 1 over two nsqd: one slot");
        int[] rotated = RdyShares.of(1, new long[] {2500, 2500}, 1);
        assertEquals(1, rotated[1], "the slot moves with the rotation");
        assertEquals(0, RdyShares.of(0, new long[] {2500}, 0)[0], "paused");
    }
}
