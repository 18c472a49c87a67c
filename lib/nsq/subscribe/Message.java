package nsq.subscribe;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Arrays;
import java.util.concurrent.atomic.AtomicBoolean;
import nsq.Frame;
import nsq.HostPort;

/**
 * One delivered message (go-nsq's message.go). finish, requeue and touch go to its delegate (the
 * connection it came on, which writes the command at once); the first answer wins, later ones are
 * ignored. A message frame's data is: 8-byte timestamp (ns), 2-byte attempts, 16-byte ASCII id, body.
 */
public final class Message {
    /** Where a message's answers go (go-nsq's MessageDelegate): its connection, or a test's recorder. */
    public interface Delegate {
        void finish(Message m);

        /** {@code delay} is already clamped by {@link #clampRequeue}. */
        void requeue(Message m, Duration delay);

        void touch(Message m);

        String topic();

        HostPort address();

        /** The delay nsqd will really apply to a REQ asking for {@code delay}. */
        default Duration clampRequeue(Duration delay) { return delay.isNegative() ? Duration.ZERO : delay; }
    }

    private final Delegate delegate;
    private final byte[] id;
    private final int attempts;
    private final long timestampNanos;
    private final byte[] body;
    private final AtomicBoolean answered = new AtomicBoolean();

    public Message(Delegate delegate, byte[] id, int attempts, long timestampNanos, byte[] body) {
        this.delegate = delegate;
        this.id = id;
        this.attempts = attempts;
        this.timestampNanos = timestampNanos;
        this.body = body;
    }

    /**
     * A message frame as {@link nsq.FrameReader#read} split it: header in {@code data}, the body (kept, not copied) in
     * {@code body}.
     */
    static Message decode(Delegate delegate, Frame f) {
        ByteBuffer b = ByteBuffer.wrap(f.data());
        long ts = b.getLong();
        int attempts = Short.toUnsignedInt(b.getShort());
        return new Message(delegate, Arrays.copyOfRange(f.data(), 10, 26), attempts, ts, f.body());
    }

    public byte[] body() { return body; }

    public String id() { return new String(id, StandardCharsets.US_ASCII); }

    /** The id as nsqd sent it, for encoding commands. */
    public byte[] rawId() { return id; }

    /** Delivery count, 1 on the first delivery. */
    public int attempts() { return attempts; }

    /** When nsqd received it (its clock, ns since the epoch). */
    public long timestampNanos() { return timestampNanos; }

    public String topic() { return delegate.topic(); }

    public HostPort from() { return delegate.address(); }

    /** FIN; false when it had already been answered. */
    public boolean finish() {
        if (!markAnswered()) return false;
        delegate.finish(this);
        return true;
    }

    /**
     * REQ after {@code delay}, clamped as nsqd would clamp it (0 to its --max-req-timeout, which
     * nsqd applies without a word). Returns the delay nsqd will use; null when already answered.
     */
    public Duration requeue(Duration delay) {
        if (!markAnswered()) return null;
        Duration d = delegate.clampRequeue(delay);
        delegate.requeue(this, d);
        return d;
    }

    /** Resets nsqd's msg-timeout for this message (up to nsqd's --max-msg-timeout in all). */
    public void touch() {
        if (!answered.get()) delegate.touch(this);
    }

    public boolean answered() { return answered.get(); }

    /** True for the one caller that gets to answer. */
    boolean markAnswered() { return answered.compareAndSet(false, true); }

    Delegate delegate() { return delegate; }

    @Override public String toString() { return "message " + id() + " (attempt " + attempts + ") from " + from(); }
}
