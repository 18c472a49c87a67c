package consume;

import java.io.IOException;
import java.time.Duration;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import nsq.Names;
import nsq.NsqConfig;
import nsq.publish.ReliablePublisher;
import nsq.subscribe.Message;
import util.Errors;
import util.Json;

/**
 * Where consumer.java --exec puts a message that failed --max-attempts times: one JSON object with
 * its metadata and last error, published to the dead-letter stream on the nsqd the message came
 * from. Publishing goes through {@link ReliablePublisher}, so its retries live in one place. A
 * publish that fails throws, and the caller requeues the message instead: it is never lost.
 */
public final class DeadLetters implements AutoCloseable {
    /** Short: a worker waits this long at most, and the message is requeued after it. */
    private static final Duration RETRY_TIMEOUT = Duration.ofSeconds(5);

    private final NsqConfig config;
    private final String override;
    private final Map<String, ReliablePublisher> publishers = new HashMap<>(); // by nsqd and stream
    private final ReliablePublisher.Counters counters = new ReliablePublisher.Counters();

    /** {@code override}: the --dead-letter stream, or null for {@code <stream>.dead}. */
    public DeadLetters(NsqConfig config, String override) {
        this.config = config;
        this.override = override;
    }

    public String streamFor(String stream) { return streamFor(override, stream); }

    /** {@code override} (--dead-letter), or {@code <stream>.dead} without the stream's #ephemeral. */
    public static String streamFor(String override, String stream) {
        if (override != null) return override;
        String base = Names.isEphemeral(stream) ? stream.substring(0, stream.length() - Names.EPHEMERAL.length()) : stream;
        return base + ".dead";
    }

    /** Returns once nsqd acknowledged the dead letter; the caller then finishes the message. */
    public synchronized void publish(String stream, String group, Message m, String error) throws ReliablePublisher.Failure {
        String target = streamFor(stream);
        Map<String, Object> j = new LinkedHashMap<>();
        j.put("id", m.id());
        j.put("attempts", m.attempts());
        j.put("last_error", error);
        j.put("stream", stream);
        j.put("group", group);
        j.put("ts_ns", m.timestampNanos());
        j.put("dead_ts_ns", System.currentTimeMillis() * 1_000_000L);
        MessageOutput.putBody(j, m.body());
        byte[] json;
        try {
            json = Json.MAPPER.writeValueAsBytes(j);
        } catch (IOException e) {
            throw new IllegalStateException("cannot encode the dead letter: " + Errors.oneLine(e), e);
        }
        publishers.computeIfAbsent(m.from() + "/" + target,
            k -> new ReliablePublisher(config, List.of(m.from()), 0, target, null, RETRY_TIMEOUT, counters)).send(List.of(json));
    }

    @Override
    public synchronized void close() {
        for (ReliablePublisher p : publishers.values()) p.close();
        publishers.clear();
    }
}
