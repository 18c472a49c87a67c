import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import consume.MessageLifecycle;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import nsq.HostPort;
import nsq.subscribe.Message;
import nsq.subscribe.RdyShares;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import util.Backoff;

/** The consumer's rules for each message (--count, requeue backoff, drain) and how RDY is shared; answers recorded, no nsqd. */
@Tag("unit")
class MessageLifecycleTest {
    /** Records the commands messages would send, and REQ delays clamped at 5 s as an nsqd with --max-req-timeout=5s would. */
    static final class Recorder implements Message.Delegate, MessageLifecycle.Flow {
        final List<String> sent = new ArrayList<>();
        final AtomicInteger pauses = new AtomicInteger(), resumes = new AtomicInteger();
        private int next;

        Message message(int attempts) {
            byte[] id = String.format("%016d", next++).getBytes(StandardCharsets.US_ASCII);
            return new Message(this, id, attempts, 0, ("body" + next).getBytes(StandardCharsets.US_ASCII));
        }

        @Override public synchronized void finish(Message m) { sent.add("FIN " + m.id()); }
        @Override public synchronized void requeue(Message m, Duration d) { sent.add("REQ " + m.id() + " " + d.toMillis()); }
        @Override public synchronized void touch(Message m) { sent.add("TOUCH " + m.id()); }
        @Override public String topic() { return "s"; }
        @Override public HostPort address() { return new HostPort("127.0.0.1", 4150); }
        @Override public Duration clampRequeue(Duration d) { return d.compareTo(Duration.ofSeconds(5)) > 0 ? Duration.ofSeconds(5) : d; }
        @Override public void pause() { pauses.incrementAndGet(); }
        @Override public void resume() { resumes.incrementAndGet(); }
    }

    static MessageLifecycle lifecycle(long count, Recorder r) {
        MessageLifecycle l = new MessageLifecycle(count, 0, new Backoff(Duration.ofSeconds(1), Duration.ofMinutes(2)), "g", null, b -> {});
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
        a.finish();
        l.finished(a);
        assertFalse(l.limitReached());
        b.finish();
        l.finished(b);
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
        assertEquals("REQ " + again.id() + " 5000", r.sent.get(1), "8s asked, 5s is what nsqd does (its --max-req-timeout)");
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
