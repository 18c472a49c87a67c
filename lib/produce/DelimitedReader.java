package produce;

import cli.Cli;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.Semaphore;
import util.Threads;

/**
 * Splits a byte stream (the producer's stdin) into records at a one-byte delimiter, keeping every
 * other byte exactly (no charset decoding, no trimming, "\r" stays). A last record without a
 * delimiter counts, at the end of the input and when the reader is stopped.
 *
 * <p>Thread model: a reader thread of its own ({@link #start}) owns the InputStream; it blocks in
 * read() and hands each chunk over a queue, at most {@link #CHUNKS} of them unconsumed (beyond
 * that it waits, as a full pipe makes its writer wait). The caller of {@link #nextBatch} (the
 * publishing thread) owns the splitting: the complete records and the partial one. It never
 * blocks on the input itself, so a record is published as soon as its delimiter arrived (a
 * partial record behind it cannot hold it back), and {@link #stop} from any thread (SIGTERM)
 * is seen at once: what was read so far, the partial record too, is handed out, then the end.
 * Bytes the reader thread gets from read() after that were not seen in time: they are counted
 * ({@link #lostAfterStop}), never silently dropped.
 */
public final class DelimitedReader {
    static final int CHUNK = 64 * 1024, CHUNKS = 64; // at most 4 MiB read ahead of the publisher

    private static final Object EOF = new Object(), STOP = new Object();
    private record Failed(Throwable error) {}

    private final InputStream in;
    private final byte delimiter;
    private final int maxRecord;
    // byte[] chunks, EOF, STOP, Failed
    private final LinkedBlockingQueue<Object> handover = new LinkedBlockingQueue<>();
    private final Semaphore room = new Semaphore(CHUNKS);
    // the reader's enqueue and the final drain, so nothing falls between
    private final Object handoverLock = new Object();
    private boolean closed;                           // under handoverLock: the final drain happened
    private long lostAfterStop;                       // under handoverLock

    // The publishing thread's own.
    private final ArrayDeque<byte[]> ready = new ArrayDeque<>();
    private final ByteArrayOutputStream partial = new ByteArrayOutputStream();
    private boolean ended;
    private Throwable failure;

    /**
     * {@code maxRecord}: a longer record fails the run (the input is not what the user meant) instead of filling the
     * heap.
     */
    public DelimitedReader(InputStream in, byte delimiter, int maxRecord) {
        this.in = in;
        this.delimiter = delimiter;
        this.maxRecord = maxRecord;
    }

    /** A --delimiter value: one byte, or the escapes \n, \t, \r, \0; a usage error otherwise. */
    public static byte parseDelimiter(String text) {
        String t = switch (text) {
            case "\\n" -> "\n";
            case "\\t" -> "\t";
            case "\\r" -> "\r";
            case "\\0" -> "\0";
            default -> text;
        };
        byte[] b = t.getBytes(StandardCharsets.UTF_8);
        Cli.require(b.length == 1, "--delimiter %s: must be one byte (a character, or \\n, \\t, \\r, \\0)",
            Cli.quote(text));
        return b[0];
    }

    /** Starts the reader thread (a daemon: one blocked on a pipe nobody writes must not keep the JVM alive). */
    public DelimitedReader start() {
        Threads.start("stdin", this::readLoop);
        return this;
    }

    private void readLoop() {
        try {
            while (true) {
                room.acquire();
                byte[] buf = new byte[CHUNK];
                int n = in.read(buf);
                if (!handOver(n < 0 ? EOF : n == CHUNK ? buf : java.util.Arrays.copyOf(buf, n)) || n < 0) return;
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (IOException | RuntimeException | Error e) {
            handOver(new Failed(e)); // the publishing thread reports it, after what came before
        }
    }

    /** False once the publishing thread took its last look: then {@code item} is only counted. */
    private boolean handOver(Object item) {
        synchronized (handoverLock) {
            if (closed) {
                if (item instanceof byte[] chunk) lostAfterStop += chunk.length;
                return false;
            }
            handover.add(item);
            return true;
        }
    }

    /** Ends the input from any thread: {@link #nextBatch} hands out what was read so far, then null. */
    public void stop() { handover.add(STOP); }

    /** Bytes the reader got after the stop was taken in: not published (0 unless input arrived at that instant). */
    public long lostAfterStop() {
        synchronized (handoverLock) {
            return lostAfterStop;
        }
    }

    /**
     * The complete records that have arrived, at least one: up to {@code maxRecords}, and no more
     * than {@code maxBytes} unless the first alone is larger. Waits only while none is complete.
     * Empty records (two delimiters in a row) are returned as they are. Null at the end of the
     * input or after {@link #stop}, once everything before it was handed out.
     */
    public List<byte[]> nextBatch(int maxRecords, long maxBytes) throws IOException, InterruptedException {
        while (ready.isEmpty() && !ended) {
            take(handover.take());
            // what else has arrived: one batch
            for (Object more; !ended && (more = handover.poll()) != null; ) take(more);
        }
        if (ready.isEmpty()) {
            rethrow();
            return null;
        }
        List<byte[]> batch = new ArrayList<>();
        long bytes = 0;
        while (!ready.isEmpty() && batch.size() < maxRecords && (batch.isEmpty() || bytes
                + ready.peek().length <= maxBytes)) {
            byte[] r = ready.poll();
            batch.add(r);
            bytes += r.length;
        }
        return batch;
    }

    private void take(Object item) throws IOException {
        if (item instanceof byte[] chunk) {
            room.release();
            split(chunk);
        } else if (item == EOF) {
            end();
        } else if (item instanceof Failed f) {
            failure = f.error();
            ended = true; // complete records before it still go out; the partial one is not a record
        } else if (item == STOP) {
            synchronized (handoverLock) { // everything the reader read before this instant, and nothing after
                closed = true;
                for (Object more; (more = handover.poll()) != null; ) {
                    if (more instanceof byte[] chunk) split(chunk);
                    else if (more instanceof Failed f) failure = f.error();
                }
            }
            end();
        }
    }

    private void split(byte[] chunk) throws IOException {
        int start = 0;
        for (int i = 0; i < chunk.length; i++) {
            if (chunk[i] != delimiter) continue;
            append(chunk, start, i - start);
            ready.add(partial.toByteArray());
            partial.reset();
            start = i + 1;
        }
        append(chunk, start, chunk.length - start);
    }

    private void append(byte[] chunk, int from, int length) throws IOException {
        if (partial.size() + (long) length > maxRecord) {
            throw new IOException("stdin: a record longer than " + maxRecord
                + " bytes (no --delimiter byte in it): not published");
        }
        partial.write(chunk, from, length);
    }

    /** The end of the input: a last record without a delimiter is a record. */
    private void end() {
        if (partial.size() > 0) ready.add(partial.toByteArray());
        partial.reset();
        ended = true;
    }

    private void rethrow() throws IOException {
        Throwable f = failure;
        if (f == null) return;
        failure = null;
        if (f instanceof Error e) throw e;
        if (f instanceof IOException e) throw new IOException("stdin: " + e.getMessage(), e);
        throw new IOException("stdin: " + f, f);
    }
}
