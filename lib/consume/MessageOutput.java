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
import nsq.subscribe.Message;
import nsq.subscribe.Subscriber;
import util.Json;

/**
 * Prints messages on stdout for consumer.java without --exec: the body per line (raw) or one JSON
 * object per line (json). A message is finished only after the write that carried its line was
 * flushed; lines are batched (every 256, and at the end of each burst from nsqd) so stdout gets
 * few large writes and nsqd few FIN rounds. When stdout fails, what it held is handed back to be
 * requeued. Several reader threads (streams, nsqd nodes) share one instance.
 */
public final class MessageOutput {
    public enum Format { raw, json }

    /** What became of each message given to {@link #print}. */
    public interface Listener {
        /** Its line was flushed and its FIN sent. */
        void printed(Message m);

        /** Stdout failed: requeue it. */
        void notPrinted(Message m);

        /** Stdout failed for the first time: stop reading. */
        void outputFailed();
    }

    private static final int BATCH = 256;

    private final OutputStream out;
    private final Format format;
    private final String group;
    private final Listener listener;
    private final List<Message> unflushed = new ArrayList<>();
    private volatile boolean failed;

    public MessageOutput(OutputStream out, Format format, String group, Listener listener) {
        this.out = out;
        this.format = format;
        this.group = group;
        this.listener = listener;
    }

    public boolean failed() { return failed; }

    public void print(String stream, Message m) {
        if (failed) {
            listener.notPrinted(m);
            return;
        }
        synchronized (unflushed) {
            try {
                out.write(format == Format.raw ? m.body() : json(stream, m));
                out.write('\n');
                unflushed.add(m);
            } catch (IOException e) {
                failed(e);
                listener.notPrinted(m);
            }
        }
    }

    /** Flushes and FINs what the flush carried: when {@code force} (the reader has nothing buffered), or a batch is full. */
    public void flush(boolean force) {
        synchronized (unflushed) {
            if (unflushed.isEmpty() || !force && unflushed.size() < BATCH) return;
            try {
                out.flush();
                Subscriber.finishAll(new ArrayList<>(unflushed));
                for (Message m : unflushed) listener.printed(m);
            } catch (IOException e) {
                failed(e);
                for (Message m : unflushed) listener.notPrinted(m);
            } finally {
                unflushed.clear();
            }
        }
    }

    /** The last flush on the way out; false when stdout failed at any time (said once: a pipe closed by `head` fails every flush). */
    public boolean close() {
        if (failed) return false;
        try {
            out.flush();
        } catch (IOException e) {
            failed = true;
            Log.error("cannot write to stdout: %s", e.getMessage());
        }
        return !failed;
    }

    private void failed(IOException e) {
        if (failed) return;
        Log.error("cannot write to stdout (%s): stopping", e.getMessage());
        failed = true;
        listener.outputFailed();
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
