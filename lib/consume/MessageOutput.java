package consume;

import cli.Log;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import nsq.subscribe.Message;
import nsq.subscribe.Subscriber;
import util.Json;

/**
 * Prints messages on stdout for consumer.java without --exec: the body per line (raw) or one JSON
 * object per line (json). A message is finished only after the write that carried its line was
 * flushed; lines are batched (every 256, and at the end of each burst from nsqd) so stdout gets
 * few large writes and nsqd few FIN rounds. When stdout fails, what it held is handed back to be
 * requeued.
 *
 * <p>Thread model: the subscriber's reader threads (one per connection) print and flush; the drain
 * flushes once more at the end. One lock guards state only: the lines waiting to be written (numbered
 * as they are queued), which thread is writing and how far stdout has got, and each reader's messages
 * whose lines were written but whose FIN is still to be sent. No I/O happens under it. The writes go
 * in this order:
 * <ol>
 *   <li>one thread at a time (the one that set {@code writing}) writes every waiting line and
 *       flushes stdout, so lines stay whole and in the order they were queued, and one flush
 *       carries what several readers queued;</li>
 *   <li>it clears {@code writing} and wakes a forced flush that waits for stdout;</li>
 *   <li>each message's FIN is sent by the reader that printed it, on its own connection, at its next
 *       print or flush: a reader never writes to another nsqd's socket, so one nsqd that stops reading
 *       stalls nobody else's answers. The drain, which prints nothing, sends whatever is left;</li>
 *   <li>then it is counted ({@link Listener#printed}).</li>
 * </ol>
 * A reader's forced flush (the end of its burst) returns only when its lines are on stdout and their
 * FINs sent, so a reader that waits for nsqd owes nothing.
 */
public final class MessageOutput {
    public enum Format { raw, json }

    /** What became of each message given to {@link #print}. Called with no lock held. */
    public interface Listener {
        /** Their lines were flushed and their FINs sent. */
        void printed(List<Message> ms);

        /** Stdout failed, or it was answered elsewhere meanwhile (the drain): requeue it if it is still ours. */
        void notPrinted(Message m);

        /** Stdout failed for the first time: stop reading. */
        void outputFailed();
    }

    private static final int BATCH = 256;

    /** One thread that prints (a connection's reader) and what it owes. Its fields are guarded by the lock. */
    private static final class Reader {
        final Thread thread = Thread.currentThread();
        long lastQueued;                                   // the seq of its latest line
        List<Message> written = new ArrayList<>();         // lines on stdout, FIN not sent yet
    }

    private record Line(Reader reader, Message m, byte[] bytes) {}

    private final OutputStream out;         // written only by the thread that set `writing`
    private final Format format;
    private final String group;
    private final Listener listener;
    private final ThreadLocal<Reader> self = new ThreadLocal<>();

    private final ReentrantLock lock = new ReentrantLock();
    private final Condition writeDone = lock.newCondition();
    // ---- guarded by lock
    private final List<Reader> readers = new ArrayList<>();
    private List<Line> pending = new ArrayList<>();
    /** Lines are numbered as they are queued; every line up to writtenSeq is on stdout (they are written in order). */
    private long queuedSeq, writtenSeq;
    private boolean writing;
    private volatile boolean failed;        // written under the lock; read without it to turn messages away early

    public MessageOutput(OutputStream out, Format format, String group, Listener listener) {
        this.out = out;
        this.format = format;
        this.group = group;
        this.listener = listener;
    }

    public boolean failed() { return failed; }

    /** Queues {@code m}'s line; writes when a batch is full, and sends FINs this thread owes. */
    public void print(String stream, Message m) {
        if (failed) {
            listener.notPrinted(m);
            return;
        }
        byte[] line;
        try {
            line = format == Format.raw ? m.body() : json(stream, m);
        } catch (IOException e) { // Jackson on a map of strings and numbers: a bug, not the output
            throw new IllegalStateException("cannot encode " + m + " as JSON", e);
        }
        Reader me = self.get();
        boolean refused = false, full = false, owed = false;
        lock.lock();
        try {
            if (failed) {
                refused = true;
            } else {
                if (me == null) me = register();
                pending.add(new Line(me, m, line));
                me.lastQueued = ++queuedSeq;
                full = pending.size() >= BATCH && !writing;
                owed = !me.written.isEmpty();
            }
        } finally {
            lock.unlock();
        }
        if (refused) listener.notPrinted(m);
        else if (full) flush(false);
        else if (owed) finishOwed(me);
    }

    /**
     * Writes every waiting line when {@code force} or a batch is full, then sends this thread's FINs.
     * Forced (a reader's burst ended, or the drain), it returns only once this thread's lines (the
     * drain: every line) are on stdout and their FINs sent, waiting for a write in progress if it
     * carries them: stdout is one stream.
     */
    public void flush(boolean force) {
        Reader me = self.get();
        List<Line> batch = null;
        long upTo = 0;
        lock.lock();
        try {
            long target = !force ? 0 : me != null ? me.lastQueued : queuedSeq;
            while (!failed) {
                boolean due = force ? writtenSeq < target : pending.size() >= BATCH;
                if (!due) break;
                if (!writing) { // then what is not written yet is all in pending
                    batch = pending;
                    pending = new ArrayList<>();
                    upTo = queuedSeq;
                    writing = true;
                    break;
                }
                if (!force) break; // the writer, or this thread's burst end, takes them
                writeDone.awaitUninterruptibly();
            }
        } finally {
            lock.unlock();
        }
        if (batch != null) write(batch, upTo);
        finishOwed(me);
    }

    /**
     * The last flush on the way out (the subscriber is closed): false when stdout failed at any time,
     * said once (a pipe closed by `head` fails every flush).
     */
    public boolean close() {
        List<Message> back = new ArrayList<>();
        lock.lock();
        try {
            while (writing) writeDone.awaitUninterruptibly();
            for (Line l : pending) back.add(l.m());
            pending.clear();
            for (Reader r : readers) {
                back.addAll(r.written);
                r.written = new ArrayList<>();
            }
        } finally {
            lock.unlock();
        }
        // Left here only by a reader that died mid-burst: the close requeued them, and their slots go back.
        for (Message m : back) listener.notPrinted(m);
        if (failed) return false;
        try {
            out.flush();
        } catch (IOException e) {
            failed = true;
            Log.error("cannot write to stdout: %s", e.getMessage());
        }
        return !failed;
    }

    /**
     * Under the lock: the calling thread is a reader from now on (a reconnect brings a new one; the dead that owe
     * nothing go).
     */
    private Reader register() {
        readers.removeIf(r -> !r.thread.isAlive() && r.lastQueued <= writtenSeq && r.written.isEmpty());
        Reader r = new Reader();
        readers.add(r);
        self.set(r);
        return r;
    }

    /**
     * Steps 1 and 2: the batch (lines up to seq {@code upTo}) to stdout, then lets go of {@code writing}. On failure
     * every line waiting goes back to be requeued.
     */
    private void write(List<Line> batch, long upTo) {
        Throwable error = null;
        try {
            for (Line l : batch) {
                out.write(l.bytes());
                out.write('\n');
            }
            out.flush();
        } catch (IOException | RuntimeException | Error e) {
            error = e;
        }
        List<Message> back = new ArrayList<>();
        lock.lock();
        try {
            writing = false;
            if (error == null) {
                for (Line l : batch) l.reader().written.add(l.m());
                writtenSeq = upTo;
            } else {
                failed = true; // nobody writes after a failure, and print turns messages away
                for (Line l : batch) back.add(l.m());
                for (Line l : pending) back.add(l.m());
                pending.clear();
            }
            writeDone.signalAll();
        } finally {
            lock.unlock();
        }
        if (error == null) return;
        // An Error (out of memory) is the output failing too: said, everything goes back, the run drains and exits 1.
        // Thrown on, it would end the reader before the drain could requeue what nsqd sends next.
        Log.error("cannot write to stdout (%s): stopping", error instanceof IOException ? error.getMessage()
            : error.toString());
        listener.outputFailed();
        back.forEach(listener::notPrinted);
    }

    /** Steps 3 and 4: FIN what this reader printed and stdout has; the drain ({@code me} null) does every reader's. */
    private void finishOwed(Reader me) {
        List<Message> owed = new ArrayList<>();
        lock.lock();
        try {
            for (Reader r : me != null ? List.of(me) : readers) {
                if (r.written.isEmpty()) continue;
                owed.addAll(r.written);
                r.written = new ArrayList<>();
            }
        } finally {
            lock.unlock();
        }
        if (owed.isEmpty()) return;
        List<Message> fin = new ArrayList<>(owed.size());
        for (Message m : owed) {
            // Requeued meanwhile (the drain's close): not ours to finish, only its slot to give back. (A close between
            // this check and the FIN below leaves the message finished and requeued both: nsqd takes the first answer.)
            if (m.answered()) listener.notPrinted(m);
            else fin.add(m);
        }
        Subscriber.finishAll(fin);
        listener.printed(fin);
    }

    private byte[] json(String stream, Message m) throws IOException {
        Map<String, Object> j = new LinkedHashMap<>();
        j.put("stream", stream);
        j.put("group", group);
        j.put("id", m.id());
        j.put("attempts", m.attempts());
        j.put("ts_ns", m.timestampNanos());
        putBody(j, m.body());
        return Json.MAPPER.writeValueAsBytes(j);
    }

    /** "body" as text when it is UTF-8, else base64 with "body_base64": true (also for dead letters). */
    static void putBody(Map<String, Object> j, byte[] body) {
        try {
            j.put("body", StandardCharsets.UTF_8.newDecoder().decode(ByteBuffer.wrap(body)).toString());
        } catch (CharacterCodingException notUtf8) {
            j.put("body", Base64.getEncoder().encodeToString(body));
            j.put("body_base64", true);
        }
    }
}
