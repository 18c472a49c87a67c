import java.io.Closeable;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import nsq.HostPort;
import nsq.NsqConfig;
import nsq.subscribe.Subscriber;

/**
 * Test helper: reads a channel through the client's Subscriber (the protocol code lives there once),
 * finishing each message at once, so a test sees what nsqd delivers independent of consumer.java.
 * Tests take what arrived, each stamped with its arrival time.
 */
final class ChannelReader implements Closeable {
    record Message(byte[] body, long arrivedNanos, int attempts) {
        String text() { return new String(body, StandardCharsets.UTF_8); }
    }

    private static final int MAX_IN_FLIGHT = 2500; // nsqd's default max RDY
    private final LinkedBlockingQueue<Message> arrived = new LinkedBlockingQueue<>();
    private final Subscriber subscriber;

    /** Returns once subscribed, so nothing published afterwards is missed. */
    ChannelReader(HostPort nsqd, String topic, String channel) throws IOException { this(nsqd, topic, channel,
        NsqConfig.defaults()); }

    /** Connecting with {@code config} (TLS, AUTH, compression). */
    ChannelReader(HostPort nsqd, String topic, String channel, NsqConfig config) throws IOException {
        subscriber = new Subscriber(config, List.of(topic), channel, MAX_IN_FLIGHT, m -> {
            arrived.add(new Message(m.body(), System.nanoTime(), m.attempts()));
            m.finish();
        }).connectTo(List.of(nsqd));
        subscriber.start();
        try {
            if (!subscriber.awaitReady(Duration.ofSeconds(10))) {
                subscriber.close();
                throw new IOException("SUB " + topic + " " + channel + " on " + nsqd + " failed: "
                    + subscriber.lastError());
            }
        } catch (InterruptedException e) {
            subscriber.close();
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while subscribing", e);
        }
    }

    /** The next {@code n} messages, failing if they do not all arrive within {@code timeout}. */
    List<Message> take(int n, Duration timeout) throws InterruptedException {
        List<Message> got = new ArrayList<>();
        long deadline = System.nanoTime() + timeout.toNanos();
        while (got.size() < n) {
            Message m = arrived.poll(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
            if (m == null) {
                String err = subscriber.lastError();
                throw new AssertionError("got " + got.size() + " of " + n + " messages within " + timeout.toMillis()
                    + " ms" + (err == null ? "" : " (last subscriber error: " + err + ")"));
            }
            got.add(m);
        }
        return got;
    }

    /** Whatever arrives within {@code wait} (for checking that nothing more comes). */
    List<Message> poll(Duration wait) throws InterruptedException {
        List<Message> got = new ArrayList<>();
        Message m = arrived.poll(wait.toMillis(), TimeUnit.MILLISECONDS);
        while (m != null) {
            got.add(m);
            m = arrived.poll();
        }
        return got;
    }

    @Override
    public void close() {
        subscriber.close();
    }
}
