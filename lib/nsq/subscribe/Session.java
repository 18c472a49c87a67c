package nsq.subscribe;

import java.io.IOException;
import java.net.SocketTimeoutException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;
import nsq.Command;
import nsq.Connection;
import nsq.Frame;
import nsq.HostPort;
import nsq.NsqException;
import util.Durations;

/**
 * One subscribed connection: SUB at construction, then a read loop on its node's thread that
 * hands each message to the subscriber's handler. Tracks what it holds unanswered, so RDY can be
 * bounded across connections and a drain can requeue everything at once.
 */
final class Session implements Message.Delegate {
    private static final AtomicInteger SEQ = new AtomicInteger();

    final int seq = SEQ.incrementAndGet(); // a stable order for RDY shares
    private final Subscriber owner;
    private final String topic;
    private final Connection conn;
    final long maxRdy;
    final Duration msgTimeout;
    private final Set<Message> unanswered = ConcurrentHashMap.newKeySet();
    final AtomicInteger inFlight = new AtomicInteger();
    final CountDownLatch closeWait = new CountDownLatch(1);
    /** The RDY nsqd last got from us, and (after a decrease) the one before it, which nsqd may still be acting on. */
    volatile int rdy;
    volatile int settlingRdy;
    volatile long settleUntil;
    volatile long lastMessageNanos;
    private volatile boolean closed;

    Session(Subscriber owner, String topic, HostPort address) throws IOException {
        this.owner = owner;
        this.topic = topic;
        this.conn = Connection.open(address, owner.config());
        try {
            maxRdy = conn.negotiated().maxRdyCount();
            msgTimeout = conn.negotiated().msgTimeout();
            conn.write(Command.sub(topic, owner.channel()));
            Frame f = conn.next();
            if (f.type() == Frame.ERROR) throw new NsqException.ErrorResponse(address, f.text());
            if (f.type() != Frame.RESPONSE || !"OK".equals(f.text())) {
                throw new NsqException.NotNsqd(address, "it answered SUB with '" + f.text() + "'");
            }
        } catch (IOException | RuntimeException e) {
            conn.close();
            throw e;
        }
    }

    @Override public String topic() { return topic; }

    @Override public HostPort address() { return conn.address(); }

    @Override public void finish(Message m) {
        answered(m);
        send(Command.fin(m.rawId()));
    }

    @Override public void requeue(Message m, Duration delay) {
        answered(m);
        send(Command.req(m.rawId(), delay.toMillis()));
    }

    @Override public void touch(Message m) { send(Command.touch(m.rawId())); }

    /** FIN for a batch of this connection's messages, already marked answered, in one write. */
    void finishAll(List<Message> batch) {
        List<byte[]> fins = new ArrayList<>(batch.size());
        for (Message m : batch) {
            answered(m);
            fins.add(Command.fin(m.rawId()));
        }
        send(fins);
    }

    /** What this connection may have in flight at nsqd: its RDY (or the one before a decrease nsqd may not have seen yet) or what it holds. */
    int claim(long now) {
        int c = Math.max(rdy, inFlight.get());
        return now - settleUntil < 0 ? Math.max(c, settlingRdy) : c;
    }

    /** Reads until closed; messages go to the handler on this thread. Throws what ended the connection. */
    void readLoop() throws IOException {
        try {
            while (!closed) {
                if (!conn.hasBuffered()) owner.handler().onBatchEnd();
                Frame f;
                try {
                    f = conn.next();
                } catch (SocketTimeoutException e) {
                    throw new IOException("no heartbeat from nsqd " + address() + " for " + Durations.format(owner.config().readTimeout()), e);
                }
                switch (f.type()) {
                    case Frame.MESSAGE -> deliver(Message.decode(this, f));
                    case Frame.ERROR -> onError(new NsqException.ErrorResponse(address(), f.text()));
                    default -> {
                        if ("CLOSE_WAIT".equals(f.text())) {
                            closeWait.countDown();
                            return;
                        }
                    }
                }
            }
        } catch (IOException e) {
            if (closed || owner.closing()) {
                owner.config().logger().debug("nsqd " + address() + ": connection closed (" + e.getMessage() + ")");
                return;
            }
            throw e;
        } finally {
            closeWait.countDown();
        }
    }

    /** E_FIN_FAILED and friends (the message had timed out and went to another consumer) are survived; others end the connection. */
    private void onError(NsqException.ErrorResponse e) throws NsqException {
        if (!e.staleMessage()) throw e;
        owner.config().logger().warn(e.getMessage() + " (the message had timed out at nsqd and will be redelivered)");
    }

    private void deliver(Message m) {
        inFlight.incrementAndGet();
        owner.delivered();
        unanswered.add(m);
        lastMessageNanos = System.nanoTime();
        if (owner.closing()) {
            m.requeue(Duration.ZERO); // arrived after CLS: not ours to handle
            return;
        }
        try {
            owner.handler().onMessage(m);
        } catch (RuntimeException e) {
            // A handler bug must not leave the message to nsqd's msg-timeout.
            owner.config().logger().error("handler failed on " + m + ": " + NsqException.describe(e) + "; requeueing");
            m.requeue(Duration.ZERO);
        }
    }

    /** Bookkeeping for an answer about to be sent. */
    private void answered(Message m) {
        unanswered.remove(m);
        inFlight.decrementAndGet();
        owner.answered();
    }

    @Override public Duration clampRequeue(Duration delay) {
        if (delay.isNegative()) return Duration.ZERO;
        return delay.compareTo(owner.maxReqTimeout()) > 0 ? owner.maxReqTimeout() : delay;
    }

    /** Writes one command; a failure means the connection is going away, and its read loop reports that. */
    void send(byte[] command) {
        try {
            conn.write(command);
        } catch (IOException e) {
            owner.config().logger().debug("nsqd " + address() + ": command not sent: " + e.getMessage());
        }
    }

    void send(List<byte[]> commands) {
        try {
            conn.write(commands);
        } catch (IOException e) {
            owner.config().logger().debug("nsqd " + address() + ": " + commands.size() + " command(s) not sent: " + e.getMessage());
        }
    }

    /** Sends RDY {@code n}; a decrease keeps the old value as this connection's claim for {@code settle}. */
    void sendRdy(int n, long settleNanos) {
        if (closed || n == rdy) return;
        if (n < rdy) {
            settlingRdy = rdy;
            settleUntil = System.nanoTime() + settleNanos;
        }
        rdy = n;
        send(Command.rdy(n));
    }

    /** Drain: REQ 0 for everything unanswered, then CLS (nsqd answers CLOSE_WAIT). Returns how many were requeued. */
    int requeueAllAndClose() {
        List<byte[]> commands = new ArrayList<>();
        for (Message m : new ArrayList<>(unanswered)) {
            if (m.markAnswered()) {
                answered(m);
                commands.add(Command.req(m.rawId(), 0));
            }
        }
        int requeued = commands.size();
        if (requeued > 0) owner.config().logger().info("nsqd " + address() + ": requeueing " + requeued + " unfinished message(s)");
        commands.add(Command.CLS);
        try {
            conn.write(commands);
        } catch (IOException e) {
            owner.config().logger().debug("nsqd " + address() + ": CLS not sent (" + e.getMessage() + "); closing anyway");
            closeWait.countDown();
        }
        return requeued;
    }

    void closeSocket() {
        closed = true;
        conn.close();
    }
}
