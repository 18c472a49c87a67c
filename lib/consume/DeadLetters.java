package consume;

import cli.Log;
import java.io.IOException;
import java.time.Duration;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import nsq.HostPort;
import nsq.Names;
import nsq.NsqException;
import nsq.NsqConfig;
import nsq.publish.ReliablePublisher;
import nsq.subscribe.Message;
import util.Errors;
import util.Json;

/**
 * Where consumer.java --exec puts a message that failed --max-attempts times: one JSON object with
 * its metadata and last error (the envelope), published to the dead-letter stream on the nsqd the
 * message came from. When nsqd refuses the envelope as over its --max-msg-size (a body near the
 * limit plus ~200 bytes of metadata), the original body goes there as it is instead (it fitted
 * when it was published) and the metadata goes to the log. Publishing goes through
 * {@link ReliablePublisher}, so its retries live in one place. A publish that fails throws
 * {@link ReliablePublisher.Failure}: {@code refused()} when nsqd will refuse it again (the caller
 * must not retry), else when nsqd did not acknowledge within a few seconds.
 */
public final class DeadLetters implements AutoCloseable {
    /** Short: a worker waits this long at most, and the message is requeued after it. */
    private static final Duration RETRY_TIMEOUT = Duration.ofSeconds(5);
    // nsqd: "E_BAD_MESSAGE PUB message too big 1080 > 1000"
    private static final Pattern TOO_BIG = Pattern.compile("message too big \\d+ > (\\d+)");

    /** What went to the dead-letter stream. */
    public enum Published { ENVELOPE, BODY_ONLY }

    private final NsqConfig config;
    private final String override;
    private final Map<String, ReliablePublisher> publishers = new HashMap<>(); // by nsqd and stream
    private final Map<HostPort, Long> maxMsgSize = new HashMap<>();           // learnt from nsqd's refusals
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
        String base = Names.isEphemeral(stream) ? stream.substring(0, stream.length() - Names.EPHEMERAL.length())
            : stream;
        return base + ".dead";
    }

    /** The envelope's fields, in the order they are written (also what the log gets when only the body fits). */
    public static Map<String, Object> metadata(String stream, String group, Message m, String error) {
        Map<String, Object> j = new LinkedHashMap<>();
        j.put("id", m.id());
        j.put("attempts", m.attempts());
        j.put("last_error", error);
        j.put("stream", stream);
        j.put("group", group);
        j.put("ts_ns", m.timestampNanos());
        j.put("dead_ts_ns", System.currentTimeMillis() * 1_000_000L);
        return j;
    }

    /**
     * Returns once nsqd acknowledged the dead letter (the caller then finishes the message) and says which form it
     * took.
     */
    public synchronized Published publish(String stream, String group, Message m,
            String error) throws ReliablePublisher.Failure {
        String target = streamFor(stream);
        Map<String, Object> meta = metadata(stream, group, m, error);
        Map<String, Object> j = new LinkedHashMap<>(meta);
        MessageOutput.putBody(j, m.body());
        byte[] envelope;
        try {
            envelope = Json.MAPPER.writeValueAsBytes(j);
        } catch (IOException e) {
            throw new IllegalStateException("cannot encode the dead letter: " + Errors.oneLine(e), e);
        }
        ReliablePublisher pub = publishers.computeIfAbsent(m.from() + "/" + target,
            k -> new ReliablePublisher(config, List.of(m.from()), 0, target, null, RETRY_TIMEOUT, counters));
        Long limit = maxMsgSize.get(m.from());
        if (limit == null || envelope.length <= limit) {
            try {
                pub.send(List.of(envelope));
                return Published.ENVELOPE;
            } catch (ReliablePublisher.Failure f) {
                limit = tooBigLimit(f);
                if (limit == null) throw f;
                maxMsgSize.put(m.from(), limit);
            }
        }
        Log.warn("%s: its dead letter with metadata (%d bytes) is over nsqd's --max-msg-size (%d bytes): publishing "
            + "the body as it is (%d bytes) to %s; metadata: %s", m, envelope.length, limit, m.body().length, target,
            Json.MAPPER.valueToTree(meta));
        pub.send(List.of(m.body()));
        return Published.BODY_ONLY;
    }

    /** nsqd's --max-msg-size when {@code f} is nsqd refusing a message as too big, else null. */
    static Long tooBigLimit(ReliablePublisher.Failure f) {
        if (!f.refused()) return null;
        for (Throwable c = f; c != null; c = c.getCause()) {
            if (c instanceof NsqException.ErrorResponse e && e.code().equals("E_BAD_MESSAGE")) {
                Matcher big = TOO_BIG.matcher(e.text());
                if (big.find()) return Long.parseLong(big.group(1));
            }
        }
        return null;
    }

    @Override
    public synchronized void close() {
        for (ReliablePublisher p : publishers.values()) p.close();
        publishers.clear();
    }
}
