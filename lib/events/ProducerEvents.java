package events;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import nsq.Identify;
import util.Json;

/**
 * The event format producer.java publishes and consumer.java --verify (lib/SeqVerifier) checks:
 * {"stream","producer","seq","ts_ns","payload"}, producer = host:pid:thread, seq = 1, 2, 3 ...
 * per producer. Kept in one file so writer and checker cannot drift apart. One instance per
 * publishing thread: the fixed parts are serialized once (payload by Jackson), only seq and
 * ts_ns per event.
 */
public final class ProducerEvents {
    public static final String STREAM = "stream", PRODUCER = "producer", SEQ = "seq", TS_NS = "ts_ns", PAYLOAD = "payload", PAD = "pad";

    private final byte[] head, tail;
    private final Integer size;

    /** {@code size}: every event exactly this many bytes (padded, for benchmarks) instead of a payload. */
    public ProducerEvents(String stream, int thread, int payloadKeys, Integer size) throws IOException {
        this.head = ("{\"" + STREAM + "\":" + Json.MAPPER.writeValueAsString(stream) + ",\"" + PRODUCER + "\":"
            + Json.MAPPER.writeValueAsString(producerId(thread)) + ",\"" + SEQ + "\":").getBytes(StandardCharsets.UTF_8);
        this.size = size;
        this.tail = size != null ? new byte[0] : concat(latin(",\"" + PAYLOAD + "\":"),
            Json.MAPPER.writeValueAsBytes(payload(payloadKeys)), new byte[] {'}'});
    }

    /** host:pid:thread, unique per publishing thread across hosts and runs. */
    public static String producerId(int thread) {
        return Identify.hostname() + ":" + ProcessHandle.current().pid() + ":" + thread;
    }

    /** "key1":"..." entries of 1024 bytes each (with the comma), so N keys are N KiB. */
    public static Map<String, String> payload(int keys) {
        Map<String, String> m = new LinkedHashMap<>();
        String alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
        for (int i = 1; i <= keys; i++) {
            String key = "key" + i;
            StringBuilder v = new StringBuilder(1018);
            for (int j = 0; v.length() < 1018 - key.length(); j++) v.append(alphabet.charAt((i + j) % alphabet.length()));
            m.put(key, v.toString());
        }
        return m;
    }

    public byte[] event(long seq) {
        Instant now = Instant.now();
        byte[] mid = latin(seq + ",\"" + TS_NS + "\":" + (now.getEpochSecond() * 1_000_000_000L + now.getNano()));
        if (size == null) return concat(head, mid, tail);
        // --size: {"...","seq":N,"ts_ns":T,"pad":"xxx"} of exactly size bytes; filler when too small for that.
        byte[] open = latin(",\"" + PAD + "\":\"");
        int pad = size - head.length - mid.length - open.length - 2;
        byte[] out = new byte[size];
        if (pad < 0) {
            Arrays.fill(out, (byte) 'x');
            return out;
        }
        int p = put(out, put(out, put(out, 0, head), mid), open);
        Arrays.fill(out, p, p + pad, (byte) 'x');
        out[p + pad] = '"';
        out[p + pad + 1] = '}';
        return out;
    }

    private static byte[] latin(String ascii) { return ascii.getBytes(StandardCharsets.US_ASCII); }

    private static int put(byte[] to, int at, byte[] from) {
        System.arraycopy(from, 0, to, at, from.length);
        return at + from.length;
    }

    private static byte[] concat(byte[]... parts) {
        int n = 0;
        for (byte[] p : parts) n += p.length;
        byte[] out = new byte[n];
        int at = 0;
        for (byte[] p : parts) at = put(out, at, p);
        return out;
    }
}
