package consume;

import cli.Log;
import com.fasterxml.jackson.databind.JsonNode;
import events.ProducerEvents;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import util.Json;

/**
 * At-least-once accounting for producer.java's events (format and field names: lib/events/ProducerEvents):
 * per producer, how many arrived, which seq numbers are missing and how many came twice. Every
 * producer starts at seq 1, so whatever lies below the lowest seq seen is missing too
 * ("missing-at-start"): counting only between the lowest and the highest would call a run that
 * lost 1..600 clean. consumer.java --verify feeds it every handled message; --expect N checks that
 * seq 1..N of every producer arrived.
 *
 * <p>Thread model: {@link #record} runs on whichever thread finished a message (a reader, a worker),
 * the reports on the main thread at the end. The counts are guarded by the instance's monitor; a body is
 * parsed before it is taken.
 */
public final class SeqVerifier {
    /** seq numbers above this are not producer.java's and are not tracked. */
    public static final long MAX_SEQ = Long.MAX_VALUE - 1;

    /**
     * The seq numbers one producer delivered, as disjoint ranges [start, end] keyed by start: events
     * arrive mostly in order, so this stays a handful of entries where a bitmap would grow with the
     * highest seq (a stray event with seq 2^40 must not cost memory).
     */
    private static final class Track {
        final TreeMap<Long, Long> ranges = new TreeMap<>();
        long count, duplicates, distinct;

        /** Adds seq; false when it was there already. */
        boolean add(long seq) {
            Map.Entry<Long, Long> below = ranges.floorEntry(seq);
            if (below != null && below.getValue() >= seq) return false;
            long start = seq, end = seq;
            if (below != null && below.getValue() == seq - 1) start = below.getKey();
            Long next = ranges.get(seq + 1);
            if (next != null) {
                end = next;
                ranges.remove(seq + 1);
            }
            ranges.put(start, end);
            distinct++;
            return true;
        }

        long min() { return ranges.firstKey(); }
        long max() { return ranges.lastEntry().getValue(); }

        /** seq 1..min-1: never seen, though every producer starts at 1. */
        long missingAtStart() { return min() - 1; }

        /** Missing between the lowest and the highest seen. */
        long gaps() { return max() - min() + 1 - distinct; }

        /** Distinct seq numbers of 1..n that arrived. */
        long arrivedUpTo(long n) {
            long got = 0;
            for (Map.Entry<Long, Long> r : ranges.headMap(n, true).entrySet()) got += Math.min(r.getValue(), n)
                - r.getKey() + 1;
            return got;
        }

        /** The first missing seq numbers of 1..n, for the error line. */
        List<Long> firstMissing(long n, int limit) {
            List<Long> out = new ArrayList<>();
            long next = 1;
            for (Map.Entry<Long, Long> r : ranges.entrySet()) {
                for (long s = next; s < r.getKey() && s <= n && out.size() < limit; s++) out.add(s);
                next = r.getValue() + 1;
            }
            for (long s = next; s <= n && out.size() < limit; s++) out.add(s);
            return out;
        }
    }

    private final Map<String, Track> producers = new TreeMap<>();
    private long unparsed;

    /** Parsed outside the monitor (two readers can parse at once), counted under it. */
    public void record(byte[] body) {
        String producer = null;
        long seq = 0;
        try {
            JsonNode e = Json.MAPPER.readTree(body);
            JsonNode p = e == null ? null : e.path(ProducerEvents.PRODUCER), s = e == null ? null
                : e.path(ProducerEvents.SEQ);
            if (p != null && p.isTextual() && s.canConvertToLong() && s.asLong() >= 1 && s.asLong() <= MAX_SEQ) {
                producer = p.asText();
                seq = s.asLong();
            }
        } catch (IOException notJson) {
            Log.debug("verify: not JSON (%s)", notJson.getMessage());
        }
        count(producer, seq);
    }

    /** {@code producer} null: not a producer.java event. */
    private synchronized void count(String producer, long seq) {
        if (producer == null) {
            unparsed++;
            return;
        }
        Track t = producers.computeIfAbsent(producer, k -> new Track());
        t.count++;
        if (!t.add(seq)) t.duplicates++;
    }

    public synchronized long duplicates() {
        return producers.values().stream().mapToLong(t -> t.duplicates).sum();
    }

    /** Missing seq numbers below the highest seen, over every producer: the ones before the lowest and the gaps. */
    public synchronized long missing() {
        return producers.values().stream().mapToLong(t -> t.missingAtStart() + t.gaps()).sum();
    }

    /** Gaps: seq numbers missing between the lowest and highest seen. */
    public synchronized long gaps() {
        return producers.values().stream().mapToLong(Track::gaps).sum();
    }

    /** seq 1..lowest-1, missing before the first seen. */
    public synchronized long missingAtStart() {
        return producers.values().stream().mapToLong(Track::missingAtStart).sum();
    }

    /** One line per producer: {@code producer P count=N highest=H missing-at-start=A gaps=G duplicates=D}. */
    public synchronized List<String> report() {
        List<String> lines = new ArrayList<>();
        producers.forEach((p,
            t) -> lines.add(String.format("producer %s count=%d highest=%d missing-at-start=%d gaps=%d duplicates=%d",
            p, t.count, t.max(), t.missingAtStart(), t.gaps(), t.duplicates)));
        if (unparsed > 0) lines.add(unparsed + " message(s) were not producer.java events");
        if (lines.isEmpty()) lines.add("no events");
        return lines;
    }

    /**
     * --expect N: null when every producer seen delivered all of seq 1..N (and at least one was
     * seen), else one line that says who fell short, by how much, and the first missing seq numbers.
     */
    public synchronized String shortOf(long expected) {
        if (producers.isEmpty()) return "--expect " + expected + ": no producer.java event arrived";
        List<String> shortBy = new ArrayList<>();
        producers.forEach((p, t) -> {
            long arrived = t.arrivedUpTo(expected);
            if (arrived < expected) {
                List<Long> first = t.firstMissing(expected, 3);
                shortBy.add(String.format("%s has %d (missing %d, first seq %s%s)", p, arrived, expected - arrived,
                    first.stream().map(String::valueOf).reduce((a, b) -> a + "," + b).orElse(""), expected
                        - arrived > first.size() ? ",..." : ""));
            }
        });
        if (shortBy.isEmpty()) return null;
        return String.format("--expect %d: %d of %d producer(s) fell short: %s", expected, shortBy.size(),
            producers.size(),
            String.join("; ", shortBy));
    }
}
