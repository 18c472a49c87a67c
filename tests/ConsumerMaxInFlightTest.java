import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * consumer.java --max-in-flight over two nsqd, as nsqd itself counts it: read from both /stats while the consumer runs.
 */
class ConsumerMaxInFlightTest {
    @RegisterExtension final NsqFixture nsq = new NsqFixture().nsqds(2);

    /** One node's view of the channel: messages in flight, and messages ever delivered to its clients. */
    record Node(long inFlight, long delivered) {}

    Node stats(int node) throws Exception {
        JsonNode channel = nsq.nsqd(node).channelWithClients("mif", "g");
        long delivered = 0;
        for (JsonNode client : channel.path("clients")) delivered += client.path("message_count").asLong();
        return new Node(channel.path("in_flight_count").asLong(), delivered);
    }

    static long inFlight(Node n) { return n.inFlight(); }

    static long count(Node n) { return n.delivered(); }

    @Test void maxInFlightOneHoldsAcrossTwoNsqd() throws Exception {
        List<String> sent = NsqFixture.bodies("m", 20);
        for (int i = 0; i < 2; i++) {
            nsq.nsqd(i).prepare("mif", "g");
            nsq.nsqd(i).publish("mif", sent.subList(i * 10, i * 10 + 10));
        }
        // Each command holds its message 50 ms, so nsqd's stats catch messages in flight.
        ConsumerRun c = new ConsumerRun("-s", "mif", "-g", "g", "--nsqd", nsq.nsqd(0).tcp() + "," + nsq.nsqd(1).tcp(),
            "--max-in-flight", "1", "--exec", "sleep 0.05", "--count", "20");
        AtomicLong overlaps = new AtomicLong(), polls = new AtomicLong(), sawOne = new AtomicLong();
        List<String> seen = new java.util.concurrent.CopyOnWriteArrayList<>();
        Await.until("20 handled, nsqd's in-flight counts of both nodes compared at every poll", Duration.ofSeconds(60),
                () -> {
            // The two nodes cannot be read at one instant. Reading A, B, A again: when A holds the same message
            // (in flight, no delivery since) at both ends, it held it while B was read, so A + B is a true sum.
            Node a1 = stats(0), b1 = stats(1), a2 = stats(0), b2 = stats(1);
            polls.incrementAndGet();
            if (inFlight(a1) + inFlight(b1) > 0) sawOne.incrementAndGet();
            boolean aHeld = inFlight(a1) >= 1 && inFlight(a2) >= 1 && count(a1) == count(a2);
            boolean bHeld = inFlight(b1) >= 1 && inFlight(b2) >= 1 && count(b1) == count(b2);
            if (inFlight(a1) > 1 || inFlight(b1) > 1 || aHeld && inFlight(b1) >= 1 || bHeld && inFlight(a2) >= 1) {
                overlaps.incrementAndGet();
                seen.add(inFlight(a1) + "/" + inFlight(b1) + "/" + inFlight(a2) + "/" + inFlight(b2));
            }
            return c.finished() == 20;
        });
        assertEquals(0, c.await(Duration.ofSeconds(30)));
        assertEquals(0, overlaps.get(), "never more than --max-in-flight 1 across both nsqd (" + polls.get()
            + " polls; a/b/a/b: " + seen + ")");
        assertTrue(sawOne.get() > 0, "the polls did see a message in flight: they can catch a second one");
        for (int i = 0; i < 2; i++) assertEquals(0, nsq.nsqd(i).channel("mif", "g").depth(), "nsqd" + i + " drained");
    }
}
