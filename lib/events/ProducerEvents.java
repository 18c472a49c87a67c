package events;

import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import nsq.Batch;
import util.HostName;
import util.Json;

/**
 * The event format producer.java publishes and consumer.java --verify (lib/SeqVerifier) checks:
 * {"stream","producer","seq","ts_ns","payload"}, producer = host:pid:thread, seq = 1, 2, 3 ...
 * per producer. Kept in one file so writer and checker cannot drift apart. One instance per
 * publishing thread: the fixed parts are serialized once (payload by Jackson); per event only
 * seq and ts_ns are written, as digits, straight into the MPUB being sent ({@link #batch}), so
 * the publish path allocates nothing per event and never copies a ~1 MiB payload (measured:
 * bench/RESULTS.md; a byte[] per event cost 3x the CPU of bench_writer at 200 B and G1
 * humongous allocations at 1 MiB).
 */
public final class ProducerEvents {
    public static final String STREAM = "stream", PRODUCER = "producer", SEQ = "seq", TS_NS = "ts_ns",
        PAYLOAD = "payload", PAD = "pad";

    private static final byte[] TS = latin(",\"" + TS_NS + "\":"), PAD_OPEN = latin(",\"" + PAD + "\":\""),
        PAD_CLOSE = latin("\"}");
    /**
     * Up to this size an event is assembled in the scratch buffer; a larger constant part goes to the connection as it
     * is.
     */
    private static final int SCRATCH = 64 * 1024;

    // {"stream":..,"producer":..,"seq": and ,"payload":{...}} (empty with --size)
    private final byte[] head, tail;
    private final Integer size;
    private final byte[] filler;       // --size: 'x' bytes to pad from, never copied per event when large
    private final byte[] scratch = new byte[SCRATCH];

    /** {@code size}: every event exactly this many bytes (padded, for benchmarks) instead of a payload. */
    public ProducerEvents(String stream, int thread, int payloadKeys, Integer size) throws IOException {
        this.head = ("{\"" + STREAM + "\":" + Json.MAPPER.writeValueAsString(stream) + ",\"" + PRODUCER + "\":"
            + Json.MAPPER.writeValueAsString(producerId(thread)) + ",\"" + SEQ
            + "\":").getBytes(StandardCharsets.UTF_8);
        this.size = size;
        this.tail = size != null ? new byte[0] : concat(latin(",\"" + PAYLOAD + "\":"),
            Json.MAPPER.writeValueAsBytes(payload(payloadKeys)), new byte[] {'}'});
        this.filler = new byte[size == null ? 0 : size];
        Arrays.fill(filler, (byte) 'x');
    }

    /** host:pid:thread, unique per publishing thread across hosts and runs. */
    public static String producerId(int thread) {
        return HostName.get() + ":" + ProcessHandle.current().pid() + ":" + thread;
    }

    /** "key1":"..." entries of 1024 bytes each (with the comma), so N keys are N KiB. */
    public static Map<String, String> payload(int keys) {
        Map<String, String> m = new LinkedHashMap<>();
        String alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
        for (int i = 1; i <= keys; i++) {
            String key = "key" + i;
            StringBuilder v = new StringBuilder(1018);
            for (int j = 0; v.length() < 1018 - key.length(); j++) v.append(alphabet.charAt((i
                + j) % alphabet.length()));
            m.put(key, v.toString());
        }
        return m;
    }

    /** Epoch nanoseconds now. */
    public static long nowNanos() {
        java.time.Instant now = java.time.Instant.now();
        return now.getEpochSecond() * 1_000_000_000L + now.getNano();
    }

    /** Event {@code seq} stamped now, as its own array (tests, sizing; the publish path uses {@link #batch}). */
    public byte[] event(long seq) {
        long ts = nowNanos();
        byte[] out = new byte[length(seq, ts)];
        write(out, seq, ts);
        return out;
    }

    /**
     * Events {@code firstSeq} .. {@code firstSeq + count - 1} as one MPUB's messages, all stamped
     * with one ts_ns (the batch is made at once; a re-send keeps it). Written when sent.
     */
    public Batch batch(long firstSeq, int count) {
        long ts = nowNanos();
        return new Batch() {
            @Override public int size() { return count; }

            @Override public long bytes() {
                long n = 0;
                for (int i = 0; i < count; i++) n += length(firstSeq + i, ts);
                return n;
            }

            @Override public byte[] body(int i) {
                byte[] out = new byte[length(firstSeq + i, ts)];
                write(out, firstSeq + i, ts);
                return out;
            }

            @Override public void writeTo(DataOutputStream out) throws IOException {
                used = 0; // a write that failed half-way left its bytes behind
                for (int i = 0; i < count; i++) write(out, firstSeq + i, ts, true);
                flushScratch(out);
            }
        };
    }

    // ---- encoding: [4-byte size] head seq ,"ts_ns": ts (tail | ,"pad":"xxx"}) ; or 'x' * size when --size is too
    // small

    private int used; // bytes of scratch waiting to be written

    private int length(long seq, long ts) {
        if (size != null) return size;
        return head.length + digits(seq) + TS.length + digits(ts) + tail.length;
    }

    private int pad(long seq, long ts) {
        return size - head.length - digits(seq) - TS.length - digits(ts) - PAD_OPEN.length - PAD_CLOSE.length;
    }

    /** The body alone into {@code out} (a message's own array). */
    private void write(byte[] out, long seq, long ts) {
        used = 0;
        try {
            DataOutputStream into = new DataOutputStream(new java.io.OutputStream() {
                int at;
                @Override public void write(int b) { out[at++] = (byte) b; }
                @Override public void write(byte[] b, int off, int len) { System.arraycopy(b, off, out, at,
                    len); at += len; }
            });
            write(into, seq, ts, false);
            flushScratch(into);
        } catch (IOException impossible) {
            throw new IllegalStateException(impossible);
        }
    }

    /** One event, MPUB-framed (its 4-byte size first) when {@code framed}; small parts gather in scratch. */
    private void write(DataOutputStream out, long seq, long ts, boolean framed) throws IOException {
        int len = length(seq, ts);
        if (scratch.length - used < 4 + head.length + 40 + PAD_OPEN.length + PAD_CLOSE.length) flushScratch(out);
        if (framed) used = putInt(scratch, used, len);
        if (size != null && pad(seq, ts) < 0) { // --size smaller than an event: filler only
            bulk(out, filler, len);
            return;
        }
        used = put(scratch, used, head, head.length);
        used = putLong(scratch, used, seq);
        used = put(scratch, used, TS, TS.length);
        used = putLong(scratch, used, ts);
        if (size == null) {
            bulk(out, tail, tail.length);
        } else {
            used = put(scratch, used, PAD_OPEN, PAD_OPEN.length);
            bulk(out, filler, pad(seq, ts));
            if (scratch.length - used < PAD_CLOSE.length) flushScratch(out);
            used = put(scratch, used, PAD_CLOSE, PAD_CLOSE.length);
        }
    }

    /** A constant part: copied into scratch when small, else written as it is after what scratch holds. */
    private void bulk(DataOutputStream out, byte[] from, int len) throws IOException {
        if (len <= scratch.length - used && len < SCRATCH / 4) {
            used = put(scratch, used, from, len);
        } else {
            flushScratch(out);
            out.write(from, 0, len);
        }
    }

    private void flushScratch(DataOutputStream out) throws IOException {
        if (used > 0) out.write(scratch, 0, used);
        used = 0;
    }

    static int digits(long v) {
        int n = 1;
        for (long x = v; x >= 10; x /= 10) n++;
        return v < 0 ? n + 1 : n;
    }

    static int putLong(byte[] to, int at, long v) {
        if (v < 0) throw new IllegalArgumentException("negative: " + v);
        int end = at + digits(v);
        for (int i = end - 1; i >= at; i--) {
            to[i] = (byte) ('0' + v % 10);
            v /= 10;
        }
        return end;
    }

    private static int putInt(byte[] to, int at, int v) {
        to[at] = (byte) (v >>> 24);
        to[at + 1] = (byte) (v >>> 16);
        to[at + 2] = (byte) (v >>> 8);
        to[at + 3] = (byte) v;
        return at + 4;
    }

    private static byte[] latin(String ascii) { return ascii.getBytes(StandardCharsets.US_ASCII); }

    private static int put(byte[] to, int at, byte[] from, int len) {
        System.arraycopy(from, 0, to, at, len);
        return at + len;
    }

    private static byte[] concat(byte[]... parts) {
        int n = 0;
        for (byte[] p : parts) n += p.length;
        byte[] out = new byte[n];
        int at = 0;
        for (byte[] p : parts) at = put(out, at, p, p.length);
        return out;
    }
}
