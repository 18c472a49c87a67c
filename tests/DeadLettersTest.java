import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import consume.DeadLetters;
import consume.MessageLifecycle;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import nsq.HostPort;
import nsq.NsqConfig;
import nsq.publish.ReliablePublisher;
import nsq.subscribe.Message;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import util.Backoff;

/**
 * A dead letter nsqd refuses for good. With real nsqd that needs an nsqd with AUTH, which our
 * client does not speak (an oversize envelope is handled by sending the bare body: FaultTest), so
 * a FakePeer answers IDENTIFY and then refuses the PUB the way nsqd's auth does. The rule under
 * test: one error, the message requeued (kept in nsqd, not lost), the consumer told to stop with
 * exit 1, and no second publish for later dead letters.
 */
@Tag("unit")
class DeadLettersTest {
    static byte[] frame(int type, String text) {
        byte[] data = text.getBytes(StandardCharsets.US_ASCII);
        return ByteBuffer.allocate(8 + data.length).putInt(4 + data.length).putInt(type).put(data).array();
    }

    static final class Recorder implements Message.Delegate {
        final List<String> sent = new ArrayList<>();
        final HostPort from;
        private int next;

        Recorder(HostPort from) { this.from = from; }

        Message message(int attempts) {
            byte[] id = String.format("%016d", next++).getBytes(StandardCharsets.US_ASCII);
            return new Message(this, id, attempts, 0, "body".getBytes(StandardCharsets.US_ASCII));
        }

        @Override public synchronized void finish(Message m) { sent.add("FIN " + m.id()); }
        @Override public synchronized void requeue(Message m, Duration d) { sent.add("REQ " + m.id()); }
        @Override public synchronized void touch(Message m) { sent.add("TOUCH " + m.id()); }
        @Override public String topic() { return "s"; }
        @Override public HostPort address() { return from; }
    }

    @Test void aDeadLetterRefusedForGoodIsOneErrorAStopAndNoLoop() throws Exception {
        byte[] ok = frame(0, "OK");
        byte[] refused = frame(1, "E_UNAUTHORIZED AUTH failed for PUB on \"s.dead\" \"\"");
        byte[] answer = ByteBuffer.allocate(ok.length + refused.length).put(ok).put(refused).array();
        try (FakePeer nsqdWithAuth = FakePeer.answering(answer);
             DeadLetters dead = new DeadLetters(NsqConfig.defaults(), null)) {
            Recorder r = new Recorder(nsqdWithAuth.address());
            MessageLifecycle l = new MessageLifecycle(0, 2, new Backoff(Duration.ofSeconds(1), Duration.ofSeconds(5)),
                "g", dead, b -> {});
            List<ReliablePublisher.Failure> stops = new ArrayList<>();
            l.onDeadLetterRefused(stops::add);
            Message first = r.message(2), second = r.message(2);
            l.failed("s", first, "exit status 1");
            assertEquals(1, stops.size(), "the consumer is told to stop");
            assertTrue(stops.get(0).refused(), stops.get(0).getMessage());
            assertTrue(stops.get(0).getMessage().contains("E_UNAUTHORIZED"), stops.get(0).getMessage());
            assertEquals(List.of("REQ " + first.id()), r.sent, "requeued, not finished: it stays in nsqd");
            l.failed("s", second, "exit status 1");
            assertEquals(1, stops.size(), "said once");
            assertEquals(List.of("REQ " + first.id(), "REQ " + second.id()), r.sent, "the next one is requeued too");
            assertEquals(1, nsqdWithAuth.connections(), "without another publish");
            assertEquals(0, l.deadLettered());
            assertEquals(2, l.requeued());
        }
    }
}
