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
import nsq.NsqLogger;
import util.Durations;

/**
 * One subscribed connection: SUB at construction, then a read loop on its node's thread that
 * hands each message to the subscriber's handler. Tracks what it holds unanswered, so RDY can be
 * bounded across connections and a drain can requeue everything at once.
 *
 * <p>Its RDY window adapts (the crash window): nsqd keeps in-flight messages only in memory, and on
 * SIGKILL of nsqd whatever it had sent but was still in its own buffers is gone, while what already
 * reached our socket's receive buffer is read and handled. So the window starts at the subscriber's
 * floor (a few messages, or what a pool of handlers can take at once), doubles when nsqd had more for
 * us (a window's worth came in one go, and the next right after our answers), halves when unread data
 * passes what our receive buffer was sized for, decays back to the floor when traffic is light, and
 * never exceeds what fits in half the receive buffer. A small window also makes nsqd flush at once (it
 * flushes when a client's in-flight count reaches its RDY), which keeps a lone message fast.
 *
 * <p>Thread model: its node's reader thread owns the read loop and the window's arithmetic ({@code batchCount} and
 * friends). Answers come from any thread (the handler's workers, the output's flush): they leave {@code unanswered}
 * (a concurrent set) and are queued on the connection ({@link Connection#send}), never written on the caller's
 * thread; the connection's writer thread then frees their RDY slots ({@code inFlight}). {@code window}, {@code rdy}
 * and the settling RDY are written under the subscriber's lock (RDY) or by the reader (window), read anywhere.
 */
final class Session implements Message.Delegate {
    private static final AtomicInteger SEQ = new AtomicInteger();

    final int seq = SEQ.incrementAndGet(); // a stable order for RDY shares
    private final Subscriber owner;
    private final String topic;
    private final Connection conn;
    final long maxRdy;
    final Duration msgTimeout, maxMsgTimeout;
    private final Set<Message> unanswered = ConcurrentHashMap.newKeySet();
    final AtomicInteger inFlight = new AtomicInteger();
    final CountDownLatch closeWait = new CountDownLatch(1);
    /** Next batch's first message within this of our answers: nsqd had it waiting, our RDY held it back. */
    private static final long REFILL_NANOS = 2_000_000;
    /**
     * Batches that nsqd did not have waiting and that used at most half the window, before it halves: traffic got
     * light.
     */
    private static final int QUIET_BATCHES = 16;
    /** How long to read on after CLOSE_WAIT for a message nsqd sent as it took our CLS. */
    private static final Duration STRAGGLERS = Duration.ofMillis(100);

    /** The most this connection should have in flight now; RDY is this or less (the budget's share). */
    volatile int window;
    private int batchCount, sinceCheck, quietBatches, avgFrame = 256;
    private long lastBatchEnd = System.nanoTime();
    private boolean refilled = true, inBatch;
    /** The RDY nsqd last got from us, and (after a decrease) the one before it, which nsqd may still be acting on. */
    volatile int rdy;
    volatile int settlingRdy;
    volatile long settleUntil;
    /**
     * When the subscriber counted this connection in (System.nanoTime()); set once, before any other thread sees it.
     */
    long subscribedNanos;
    /** nsqd heartbeats every interval whatever else it sends: past this much longer without a byte, one is overdue. */
    private final long heardWithinNanos;
    private static final Duration HEARTBEAT_MARGIN = Duration.ofSeconds(2);
    private volatile boolean closed;

    /** SUB on {@code conn}, an identified connection; closed if that fails. */
    Session(Subscriber owner, String topic, Connection conn) throws IOException {
        this.owner = owner;
        this.topic = topic;
        this.conn = conn;
        this.window = owner.windowFloor();
        Duration hb = owner.config().heartbeatInterval() != null ? owner.config().heartbeatInterval()
            : Duration.ofSeconds(30);
        this.heardWithinNanos = hb.isZero() ? Long.MAX_VALUE : hb.plus(HEARTBEAT_MARGIN).toNanos();
        HostPort address = conn.address();
        try {
            maxRdy = conn.negotiated().maxRdyCount();
            msgTimeout = conn.negotiated().msgTimeout();
            maxMsgTimeout = conn.negotiated().maxMsgTimeout();
            conn.waitingFor("no answer to SUB yet");
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

    /**
     * Whether this connection could show us a message nsqd has for us now: it was heard from (a message or a heartbeat)
     * within its heartbeat interval and a margin, and is not stalled half-way through a frame. Any thread may ask.
     */
    boolean live(long now) {
        return !closed && conn.stalledSinceNanos() == 0 && now - conn.lastHeardNanos() <= heardWithinNanos;
    }

    @Override public HostPort address() { return conn.address(); }

    // The slot an answer frees is counted once the answer is on the wire (or never will be: the connection is gone and
    // nsqd requeues): RDY moved to another connection must never let nsqd count one more in flight than the budget.
    @Override public void finish(Message m) {
        answering(m);
        conn.answer(List.of(Command.fin(m.rawId())), sent -> slotsFreed(1));
    }

    @Override public void requeue(Message m, Duration delay) {
        answering(m);
        conn.answer(List.of(Command.req(m.rawId(), delay.toMillis())), sent -> slotsFreed(1));
    }

    @Override public void touch(Message m) { conn.send(Command.touch(m.rawId())); }

    /** FIN for a batch of this connection's messages, already marked answered, in one write. */
    void finishAll(List<Message> batch) {
        List<byte[]> fins = new ArrayList<>(batch.size());
        for (Message m : batch) {
            answering(m);
            fins.add(Command.fin(m.rawId()));
        }
        conn.answer(fins, sent -> slotsFreed(batch.size()));
    }

    /**
     * What this connection may have in flight at nsqd: its RDY (or the one before a decrease nsqd may not have seen
     * yet) or what it holds.
     */
    int claim(long now) {
        int c = Math.max(rdy, inFlight.get());
        return now - settleUntil < 0 ? Math.max(c, settlingRdy) : c;
    }

    /** Reads until closed; messages go to the handler on this thread. Throws what ended the connection. */
    void readLoop() throws IOException {
        conn.readBy(Thread.currentThread()); // its own answers may go out on it directly
        try {
            while (!closed) {
                if (inBatch && !conn.frameReady()) {
                    owner.handler().onBatchEnd();
                    endOfBatch();
                }
                Frame f;
                try {
                    f = conn.next();
                } catch (SocketTimeoutException e) {
                    throw new IOException("no heartbeat from nsqd " + address() + " for "
                        + Durations.format(owner.config().readTimeout()), e);
                }
                switch (f.type()) {
                    case Frame.MESSAGE -> {
                        startOfBatch();
                        deliver(Message.decode(this, f));
                        afterMessage(f.wireBytes());
                    }
                    case Frame.ERROR -> onError(new NsqException.ErrorResponse(address(), f.text()));
                    default -> {
                        if ("CLOSE_WAIT".equals(f.text())) {
                            readStragglers();
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
            String why = conn.closedBecause(); // the writer closed it: why says more than "Socket closed"
            throw why != null ? new IOException(why, e) : e;
        } finally {
            closeWait.countDown();
        }
    }

    /**
     * nsqd's message pump can take one more message from the channel while its reader handles our CLS,
     * and send it after CLOSE_WAIT (seen: one message left to nsqd's msg-timeout). Read a moment
     * longer; what comes is requeued at once (we are closing).
     */
    private void readStragglers() throws IOException {
        conn.setReadTimeout(STRAGGLERS);
        try {
            while (!closed) {
                Frame f = conn.next();
                if (f.type() == Frame.MESSAGE) deliver(Message.decode(this, f));
            }
        } catch (SocketTimeoutException quiet) {
            // nothing more came: the connection is done
        }
    }

    // ---- the adaptive window (see the class comment); all on this connection's reader thread

    private void startOfBatch() {
        if (inBatch) return;
        inBatch = true;
        refilled = System.nanoTime() - lastBatchEnd < REFILL_NANOS;
    }

    private void afterMessage(int frameBytes) throws IOException {
        avgFrame += (frameBytes - avgFrame) / 16;
        batchCount++;
        // Half the window held unanswered: answer now, or nsqd runs dry waiting for our FINs (answers queued for the
        // writer no longer count: they are on their way).
        if (unanswered.size() >= Math.max(2, window / 2)) owner.handler().onBatchEnd();
        if (++sinceCheck < window) return;
        // A window's worth handled without running dry. Running behind a backlog is fine while what is unread fits the
        // half of the receive buffer the window was sized for; past it (messages larger than the average) nsqd holds
        // the rest.
        sinceCheck = 0;
        if (window > owner.windowFloor() && conn.unreadBytes() > safeBytes()) resize(window / 2);
    }

    private void endOfBatch() {
        inBatch = false;
        lastBatchEnd = System.nanoTime();
        if (batchCount >= window && refilled) {
            quietBatches = 0;
            resize(Math.min(window * 2, Math.max(1, safeBytes() / Math.max(1, avgFrame))));
        } else if (!refilled && batchCount <= window / 2 && ++quietBatches >= QUIET_BATCHES) {
            quietBatches = 0;
            resize(window / 2);
        }
        batchCount = 0;
        sinceCheck = 0;
    }

    /** Half the receive buffer: what nsqd may have in flight for us and still all reach our side. */
    private int safeBytes() { return conn.receiveBufferBytes() / 2; }

    private void resize(int w) {
        w = Math.max(owner.windowFloor(), w);
        if (w == window) return;
        NsqLogger log = owner.config().logger();
        if (log.debugEnabled()) log.debug("nsqd " + address() + ": window " + window + " -> " + w + " (receive buffer "
            + conn.receiveBufferBytes() + " B, frames ~" + avgFrame + " B)");
        window = w;
        owner.windowChanged();
    }

    /** E_FIN_FAILED and friends (see StaleAnswers) are survived and summarized; others end the connection. */
    private void onError(NsqException.ErrorResponse e) throws NsqException {
        if (!e.staleMessage()) throw e;
        owner.staleAnswers().record(e.getMessage());
    }

    private void deliver(Message m) {
        inFlight.incrementAndGet();
        owner.delivered();
        unanswered.add(m);
        if (owner.closing()) {
            if (m.requeue(Duration.ZERO) != null) owner.countRequeuedUnread(); // arrived after CLS: not ours to handle
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

    /** An answer is given (on its way to nsqd): the handler's part is done. */
    private void answering(Message m) {
        unanswered.remove(m);
        owner.answering();
    }

    /** Answers written (or lost with the connection): their slots in the RDY budget go back, on the writer thread. */
    private void slotsFreed(int n) {
        inFlight.addAndGet(-n);
        owner.slotsFreed();
    }

    @Override public Duration clampRequeue(Duration delay) {
        if (delay.isNegative()) return Duration.ZERO;
        return delay.compareTo(owner.maxReqTimeout()) > 0 ? owner.maxReqTimeout() : delay;
    }

    /** Sends RDY {@code n}; a decrease keeps the old value as this connection's claim for {@code settle}. */
    void sendRdy(int n, long settleNanos) {
        if (closed || n == rdy) return;
        if (n < rdy) {
            settlingRdy = rdy;
            settleUntil = System.nanoTime() + settleNanos;
        }
        rdy = n;
        conn.send(Command.rdy(n)); // queued: the caller may hold the subscriber's RDY lock
    }

    /** Drain: REQ 0 for everything unanswered, then CLS (nsqd answers CLOSE_WAIT). Returns how many were requeued. */
    int requeueAllAndClose() {
        List<byte[]> commands = new ArrayList<>();
        for (Message m : new ArrayList<>(unanswered)) {
            if (m.markAnswered()) {
                answering(m);
                commands.add(Command.req(m.rawId(), 0));
            }
        }
        int requeued = commands.size();
        if (requeued > 0) owner.config().logger().info("nsqd " + address() + ": requeueing " + requeued
            + " unfinished message(s)");
        commands.add(Command.CLS);
        conn.send(commands, sent -> {
            slotsFreed(requeued);
            if (!sent) {
                owner.config().logger().debug("nsqd " + address() + ": CLS not sent; closing anyway");
                closeWait.countDown();
            }
        });
        return requeued;
    }

    void closeSocket() {
        closed = true;
        conn.close();
    }
}
