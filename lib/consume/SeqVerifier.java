package consume;

import cli.Log;
import com.fasterxml.jackson.databind.JsonNode;
import events.ProducerEvents;
import java.io.IOException;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import util.Json;

/**
 * At-least-once accounting for producer.java's events (format and field names: lib/events/ProducerEvents):
 * per producer, how many were seen, which seq numbers are missing between the lowest and the
 * highest, and how many came twice. consumer.java --verify feeds it every handled message.
 */
public final class SeqVerifier {
    private static final class Track {
        final BitSet seen = new BitSet();
        long count, duplicates, min = Long.MAX_VALUE, max = Long.MIN_VALUE;
    }

    private final Map<String, Track> producers = new TreeMap<>();
    private long unparsed;

    public synchronized void record(byte[] body) {
        JsonNode e;
        try {
            e = Json.MAPPER.readTree(body);
        } catch (IOException notJson) {
            Log.debug("verify: not JSON (%s)", notJson.getMessage());
            unparsed++;
            return;
        }
        if (e == null) {
            unparsed++;
            return;
        }
        JsonNode producer = e.path(ProducerEvents.PRODUCER), seqNode = e.path(ProducerEvents.SEQ);
        if (!producer.isTextual() || !seqNode.canConvertToLong()
                || seqNode.asLong() < 0 || seqNode.asLong() > Integer.MAX_VALUE) {
            unparsed++;
            return;
        }
        Track t = producers.computeIfAbsent(producer.asText(), p -> new Track());
        int seq = (int) seqNode.asLong();
        t.count++;
        if (t.seen.get(seq)) t.duplicates++;
        t.seen.set(seq);
        t.min = Math.min(t.min, seq);
        t.max = Math.max(t.max, seq);
    }

    public synchronized long duplicates() {
        return producers.values().stream().mapToLong(t -> t.duplicates).sum();
    }

    /** Gaps: seq numbers missing between the lowest and highest seen. */
    public synchronized long gaps() {
        return producers.values().stream().mapToLong(t -> t.max - t.min + 1 - t.seen.cardinality()).sum();
    }

    public synchronized List<String> report() {
        List<String> lines = new ArrayList<>();
        producers.forEach((p, t) -> lines.add(String.format("producer %s count=%d seq=%d..%d gaps=%d duplicates=%d",
            p, t.count, t.min, t.max, t.max - t.min + 1 - t.seen.cardinality(), t.duplicates)));
        if (unparsed > 0) lines.add(unparsed + " message(s) were not producer.java events");
        if (lines.isEmpty()) lines.add("no events");
        return lines;
    }
}
