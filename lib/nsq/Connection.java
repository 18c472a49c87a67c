package nsq;

import java.io.BufferedInputStream;
import java.io.Closeable;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import util.Durations;
import util.Threads;

/**
 * One TCP connection to nsqd speaking protocol V2 (go-nsq's conn.go): connects, sends the magic,
 * negotiates with IDENTIFY, then carries commands out and frames in. Heartbeats are answered here
 * and nowhere else. {@link #close()} may come from any thread, also while {@link #open()} waits: that ends the wait.
 *
 * <p>Thread model: one thread reads (the opener, then a subscriber's reader). Writes are either synchronous
 * ({@link #write}: the handshake, SUB, a publisher's commands), one at a time under a lock only this connection's
 * writers take, or queued ({@link #send}: a subscriber's FIN, REQ, TOUCH, RDY and NOP) for this connection's own
 * writer thread, started by a send when none runs and leaving after {@link #WRITER_IDLE_NANOS} with nothing to
 * write (an idle subscriber's connection is then one thread: its reader answers heartbeats itself), so no caller
 * ever blocks on this socket while holding a lock another connection needs. The one exception is the reader's own
 * answers ({@link #answer}): written directly when nothing is queued, which saves a hand-off per batch and holds up
 * nobody but this connection. Every write has a deadline
 * ({@link NsqConfig#writeTimeout}, kept by {@link WriteDeadlines}): past it the socket is closed, the blocked write
 * fails, the reader fails with {@link #closedBecause()}.
 *
 * <p>Failures: only an answer proves a wrong peer. A refused, reset or silent connection is a plain
 * IOException (transient: an nsqd SIGSTOPped, overloaded or cut off by the network still takes TCP
 * connections in the kernel and then says nothing); a peer that answers what nsqd never sends, or an
 * nsqd that refuses us (an error frame, TLS refused), is a fatal {@link NsqException}.
 *
 * <p>Reads time out between frames after {@link #setReadTimeout} (the heartbeat window for a
 * subscriber), and inside a frame sooner: nsqd finishes a frame it began at its next flush of the
 * output buffer, so a peer stalled half-way is dropped in seconds instead of being taken for an idle one.
 */
public final class Connection implements Closeable {
    private final HostPort address;
    private final NsqConfig config;
    private final Socket socket;
    /** nsqd gives its TLS handshake 5 s; the OKs after an upgrade come at once. */
    private static final Duration UPGRADE_TIMEOUT = Duration.ofSeconds(5);
    /** nsqd's auth client waits up to 2 s to connect and 5 s for the answer (its defaults). */
    private static final Duration AUTH_TIMEOUT = Duration.ofSeconds(10);

    private InputStream rawIn;
    private OutputStream rawOut;
    private FrameReader in;
    private DataOutputStream out;
    private Identify.Answer answer;
    private int frameLimit = NsqConfig.HANDSHAKE_FRAME_LIMIT;
    /** The TLS layer, once IDENTIFY granted it: what its handshake showed explains a refusal on the read after it. */
    private Socket tlsSocket;
    /**
     * Read timeouts in ms (0: none): between frames as set by {@link #setReadTimeout}, inside one at most {@link
     * #midFrameMillis}.
     */
    private volatile int betweenFramesMillis;
    private final int midFrameMillis;
    /** While {@link #open()} (or the caller's first command) waits: for what, for a report from another thread. */
    private volatile String waitingFor = "connecting";
    /** One write at a time (handshake, publisher, the writer thread); this connection's writers only take it. */
    private final Object writeLock = new Object();
    /** The watchdog's view of this connection's writes: one past the write timeout closes the socket. */
    private final WriteDeadlines.Watch deadline;
    /** What {@link #send} queued for the writer thread; its monitor guards it, {@code writer}, {@code outboxClosed}. */
    private final ArrayDeque<Queued> outbox = new ArrayDeque<>();
    private Thread writer;
    /** The write buffer's size (under {@code writeLock}): small while quiet, see {@link BufferSize}. */
    private final BufferSize writeSizing = new BufferSize();
    /** A writer thread with nothing to write for this long leaves; the next {@link #send} starts another. */
    static final long WRITER_IDLE_NANOS = 2_000_000_000L;
    private boolean outboxClosed, writerBusy;
    private volatile Thread reader;
    private volatile String closedBecause;
    /** A frame nsqd began arrives whole by its next flush (its output buffer timeout); this much more is its margin. */
    static final Duration MID_FRAME_MARGIN = Duration.ofSeconds(5);

    private Connection(HostPort address, NsqConfig config) {
        this.address = address;
        this.config = config;
        this.socket = new Socket();
        Duration flush = config.outputBufferTimeout() != null ? config.outputBufferTimeout()
            : Duration.ofMillis(Identify.OUTPUT_BUFFER_TIMEOUT_MS);
        this.midFrameMillis = (int) Math.min(Integer.MAX_VALUE, flush.plus(MID_FRAME_MARGIN).toMillis());
        Duration limit = config.writeTimeout();
        this.deadline = WriteDeadlines.SHARED.watch(limit, () -> {
            closedBecause = "nsqd " + address + " took no write for " + Durations.format(limit)
                + " (it stopped reading: stopped, overloaded or cut off); dropped";
            close();
        });
    }

    /** Connects and identifies; the returned connection is ready for SUB or PUB. */
    public static Connection open(HostPort address, NsqConfig config) throws IOException {
        return to(address, config).open();
    }

    /**
     * A connection not made yet: {@link #open()} makes it, and {@link #close()} from another thread ends that early.
     */
    public static Connection to(HostPort address, NsqConfig config) { return new Connection(address, config); }

    /** Connects and identifies (once); ready for SUB or PUB when it returns. Closed when it throws. */
    public Connection open() throws IOException {
        try {
            connect();
            identify();
        } catch (IOException | RuntimeException e) {
            close();
            if (e instanceof NsqException) throw e;
            throw new IOException("cannot connect to nsqd " + address + ": " + NsqException.describe(e), e);
        }
        return this;
    }

    /**
     * Asked of the kernel before connecting (Linux caps it at net.core.rmem_max): a subscriber keeps what nsqd has in
     * flight within half of it, since what reached our buffer survives an nsqd crash and what nsqd still holds does
     * not.
     */
    private static final int RECEIVE_BUFFER = 1 << 20;

    private void connect() throws IOException {
        waitingFor = "connecting";
        socket.setTcpNoDelay(true);
        socket.setReceiveBufferSize(RECEIVE_BUFFER);
        socket.connect(new InetSocketAddress(address.host(), address.port()), (int) config.connectTimeout().toMillis());
        socket.setSoTimeout((int) config.handshakeTimeout().toMillis());
        layers(socket.getInputStream(), socket.getOutputStream());
    }

    /**
     * The handshake reads unbuffered: nsqd switches its side to TLS, then compression, right after
     * each answer, and bytes of the next layer must not be read ahead into this one's buffer.
     */
    private void layers(InputStream rawIn, OutputStream rawOut) {
        this.rawIn = rawIn;
        this.rawOut = rawOut;
        in = FrameReader.exact(rawIn, address);
        out = new DataOutputStream(new SizedOutput(rawOut, writeSizing));
    }

    /**
     * IDENTIFY, then what it negotiated in nsqd's order (go-nsq's conn.go): TLS, then snappy or
     * deflate, each confirmed by an OK through the new layer, then AUTH when nsqd requires it.
     */
    private void identify() throws IOException {
        waitingFor = "it took the connection, no answer to IDENTIFY yet";
        out.write(Command.MAGIC_V2);
        out.write(Command.identify(Identify.json(Identify.fields(config))));
        out.flush();
        answer = Identify.Answer.parse(handshakeResponse("IDENTIFY").text());
        int upgradeTimeout = (int) Math.max(config.handshakeTimeout().toMillis(), UPGRADE_TIMEOUT.toMillis());
        if (config.tls() != null) {
            if (!answer.flag("tls_v1")) {
                throw new NsqException("nsqd " + address
                    + " does not offer TLS (it needs --tls-cert and --tls-key) and TLS was asked for", true, null);
            }
            waitingFor = "TLS handshake under way";
            tlsSocket = config.tls().handshake(socket, address, upgradeTimeout);
            layers(tlsSocket.getInputStream(), tlsSocket.getOutputStream());
            upgraded("TLS", upgradeTimeout);
        }
        Compression c = config.compression();
        if (c != null && answer.flag(c.algorithm())) {
            InputStream decompressed = c.input(c.algorithm().equals("snappy") ? new BufferedInputStream(rawIn, 64
                * 1024) : rawIn);
            layers(decompressed, c.output(rawOut));
            upgraded(c.algorithm(), upgradeTimeout);
        } else if (c != null) {
            config.logger().warn("nsqd " + address + " does not offer " + c.algorithm() + " (started with --"
                + c.algorithm() + "=false?): uncompressed");
        }
        if (answer.authRequired()) auth();
        else if (config.authSecret() != null) config.logger().debug("nsqd " + address
            + " does not require AUTH: the secret is not sent");
        // Bootstrapped: from here reads are buffered, and frames may be as large as nsqd's messages.
        in = FrameReader.growing(rawIn, address, this::waiting, new BufferSize());
        frameLimit = config.maxFrameSize();
        setReadTimeout(config.readTimeout());
    }

    /**
     * The reader's next blocking read waits between frames or inside one: its timeout follows (see the class comment).
     */
    private int waiting(boolean midFrame) throws IOException {
        int between = betweenFramesMillis;
        int ms = !midFrame ? between : between == 0 ? midFrameMillis : Math.min(between, midFrameMillis);
        socket.setSoTimeout(ms);
        return ms;
    }

    /** nsqd confirms each upgrade with OK through the new layer; a certificate refused shows here with TLS 1.3. */
    private void upgraded(String what, int timeoutMillis) throws IOException {
        socket.setSoTimeout(timeoutMillis);
        Frame f;
        try {
            f = next();
        } catch (SocketTimeoutException e) {
            throw new IOException("nsqd " + address + ": no OK within " + timeoutMillis + " ms after the " + what
                + " upgrade", e);
        } catch (IOException e) {
            // A reset or an alert right after the TLS handshake is nsqd refusing our certificate (TLS 1.3 says so
            // here).
            throw what.equals("TLS") ? config.tls().refusal(address, tlsSocket, e) : e;
        }
        if (f.type() == Frame.ERROR) throw new NsqException.ErrorResponse(address, f.text());
        if (f.type() != Frame.RESPONSE || !f.text().equals("OK")) {
            throw new NsqException("nsqd " + address + " answered the " + what + " upgrade with '" + f.text() + "'",
                true, null);
        }
    }

    /** AUTH with the secret; nsqd asks its auth server, so the answer may take seconds. Logs who nsqd says we are. */
    private void auth() throws IOException {
        if (config.authSecret() == null) {
            throw new NsqException("nsqd " + address
                + " requires AUTH (it runs with --auth-http-address) and no secret was given", true, null);
        }
        waitingFor = "no answer to AUTH yet";
        write(Command.auth(config.authSecret().getBytes(StandardCharsets.UTF_8)));
        socket.setSoTimeout((int) AUTH_TIMEOUT.toMillis());
        Frame f;
        try {
            f = next();
        } catch (SocketTimeoutException e) {
            throw new IOException("nsqd " + address + " did not answer AUTH within " + AUTH_TIMEOUT.toSeconds()
                + " s (its auth server is slow?)", e);
        }
        if (f.type() == Frame.ERROR) throw new NsqException.ErrorResponse(address, f.text());
        if (f.type() != Frame.RESPONSE) throw new NsqException.NotNsqd(address,
            "it sent a message before AUTH was answered");
        Map<String, String> who = Identify.flatJson(f.text());
        String url = who.getOrDefault("identity_url", "");
        config.logger().info("nsqd " + address + ": AUTH accepted as '" + who.getOrDefault("identity", "") + "'"
            + (url.isEmpty() ? "" : " (" + url + ")") + " with " + who.getOrDefault("permission_count", "?")
            + " permission(s)");
    }

    /**
     * The answer to a handshake command. Silence is not proof of a wrong peer: a stopped (SIGSTOP), overloaded or
     * cut-off nsqd takes the connection in its kernel and says nothing, and answers the moment it runs again.
     * Transient.
     */
    private Frame handshakeResponse(String command) throws IOException {
        Frame f;
        try {
            f = next();
        } catch (SocketTimeoutException e) {
            throw new SocketTimeoutException("it took the connection but did not answer " + command + " within "
                + config.handshakeTimeout().toMillis() + " ms (a stopped, overloaded or cut-off nsqd, or not nsqd)");
        }
        if (f.type() == Frame.ERROR) throw new NsqException.ErrorResponse(address, f.text());
        if (f.type() != Frame.RESPONSE) throw new NsqException.NotNsqd(address, "it sent a message before " + command
            + " was answered");
        return f;
    }

    public HostPort address() { return address; }

    /**
     * While it is being made: what it waits for, e.g. "nsqd 127.0.0.1:4150: it took the connection, no answer to
     * IDENTIFY yet". Any thread.
     */
    public String waitingFor() { return "nsqd " + address + ": " + waitingFor; }

    /** The caller's first command waits for its answer, e.g. "no answer to SUB yet": for {@link #waitingFor()}. */
    public void waitingFor(String what) { waitingFor = what; }

    public NsqConfig config() { return config; }

    /** What nsqd granted in its IDENTIFY answer. */
    public Identify.Answer negotiated() { return answer; }

    /**
     * How long a blocked read may wait for the next frame (ZERO: forever); publishers bound each answer, subscribers
     * the heartbeat gap. Inside a frame the wait is shorter (see the class comment).
     */
    public void setReadTimeout(Duration timeout) throws IOException {
        betweenFramesMillis = (int) Math.min(Integer.MAX_VALUE, timeout.toMillis());
        socket.setSoTimeout(betweenFramesMillis);
        in.resetWaits();
    }

    /** When bytes last came from nsqd (System.nanoTime()): a heartbeat is due every interval. Any thread may ask. */
    public long lastHeardNanos() { return in.lastBytesNanos(); }

    /**
     * Since when the reader has been waiting with part of a frame in hand (System.nanoTime()), or 0. Any thread may
     * ask.
     */
    public long stalledSinceNanos() { return in.stalledSinceNanos(); }

    /**
     * The next frame that is not a heartbeat (heartbeats are answered with NOP on the way).
     * Error frames are returned too: whether one is fatal is the caller's to decide.
     */
    public Frame next() throws IOException {
        while (true) {
            Frame f = in.read(frameLimit);
            if (!f.isHeartbeat()) return f;
            if (hasWriter()) send(Command.NOP); // after what is queued, never blocking the reader
            else write(Command.NOP);
        }
    }

    private boolean hasWriter() {
        synchronized (outbox) {
            return writer != null;
        }
    }

    /** True when a complete frame can be read without waiting: a batch of messages goes on. */
    public boolean frameReady() throws IOException { return in.frameReady(); }

    /** The kernel's receive buffer for this socket (grown by autotuning as the reader keeps up). */
    public int receiveBufferBytes() {
        try {
            return socket.getReceiveBufferSize();
        } catch (IOException e) {
            return 64 * 1024; // the socket is going away; the smallest buffer Linux starts with
        }
    }

    /** Bytes nsqd sent that are not read yet (buffered here and in the socket): how far behind the reader is. */
    public int unreadBytes() throws IOException { return in.unread(); }

    /** Writes one command and flushes, within the write timeout (see {@link #write(Body)}). */
    public void write(byte[] command) throws IOException { write(o -> o.write(command)); }

    /** Writes several commands with one flush (one syscall for a batch of FINs). */
    public void write(List<byte[]> commands) throws IOException {
        write(o -> {
            for (byte[] c : commands) o.write(c);
        });
    }

    /**
     * A command streamed by {@code body}, then flushed: PUB and MPUB bodies are never copied. Blocks while nsqd does
     * not read, at most the write timeout: then the socket is closed and this throws (transient: nsqd stopped reading).
     * The lock is this connection's alone, so a write that blocks holds up only this connection's other writers.
     */
    public void write(Body body) throws IOException {
        synchronized (writeLock) {
            deadline.begin();
            try {
                body.writeTo(out);
                out.flush();
            } catch (IOException e) {
                String why = closedBecause;
                throw deadline.expired() && why != null ? new IOException(why, e) : e;
            } finally {
                deadline.end();
            }
        }
    }

    /** Streams one command into the connection's output. */
    @FunctionalInterface
    public interface Body {
        void writeTo(DataOutputStream out) throws IOException;
    }

    /** What {@link #send} tells its caller once the commands are on the wire ({@code sent}) or will never be. */
    @FunctionalInterface
    public interface Sent {
        void done(boolean sent);
    }

    /** {@link #send(List, Sent)} of one command, nobody told. */
    public void send(byte[] command) { send(List.of(command), null); }

    /**
     * Queues commands for this connection's writer thread and returns at once, so a caller never waits on this nsqd's
     * socket (go-nsq's writeLoop): FIN, REQ, TOUCH and RDY from any thread, holding any lock. They go out in the order
     * queued, batched with whatever else waits. {@code then} (may be null) runs on the writer thread once they were
     * written, or with false once they never will be (the connection closed; nsqd requeues what it had sent on it), on
     * the caller's thread when it already has. A write that blocks past the write timeout closes the connection; the
     * reader then fails with the reason ({@link #closedBecause()}).
     */
    public void send(List<byte[]> commands, Sent then) {
        synchronized (outbox) {
            if (!outboxClosed) {
                outbox.add(new Queued(commands, then));
                if (writer == null) writer = Threads.start("nsq-write-" + address, this::writeLoop);
                else if (outbox.size() == 1) outbox.notifyAll();
                return;
            }
        }
        if (then != null) then.done(false);
    }

    /**
     * {@link #send}, except on this connection's reader thread ({@link #readBy}) with nothing queued or being written:
     * then the reader writes its own answers itself, saving the hand-off to the writer thread (a message's FIN is on
     * the wire before the reader reads on). Blocking there holds up only this connection, within the write timeout;
     * so the caller must hold no lock another connection needs (a subscriber's RDY always goes through {@link #send}).
     */
    public void answer(List<byte[]> commands, Sent then) {
        synchronized (outbox) {
            if (outboxClosed || Thread.currentThread() != reader || !outbox.isEmpty() || writerBusy) {
                send(commands, then);
                return;
            }
        }
        boolean sent = true;
        try {
            write(commands);
        } catch (IOException e) {
            sent = false;
            failed(e);
        }
        if (then != null) tell(new Queued(commands, then), sent);
    }

    /** The thread that reads this connection from now on: its answers may go out directly ({@link #answer}). */
    public void readBy(Thread t) { reader = t; }

    private void failed(IOException e) {
        if (closedBecause == null) {
            closedBecause = "nsqd " + address + ": write failed (" + NsqException.describe(e) + ")";
        }
        close();
    }

    private record Queued(List<byte[]> commands, Sent then) {}

    /**
     * The writer thread: takes everything queued, writes it with one flush, tells the senders; until closed, or idle
     * for {@link #WRITER_IDLE_NANOS}.
     */
    private void writeLoop() {
        List<Queued> batch = new ArrayList<>();
        boolean sent = true;
        while (sent) {
            synchronized (outbox) {
                long idleUntil = System.nanoTime() + WRITER_IDLE_NANOS;
                while (outbox.isEmpty() && !outboxClosed) {
                    long left = idleUntil - System.nanoTime();
                    if (left <= 0) { // idle: an idle connection costs only its reader thread
                        writer = null;
                        return;
                    }
                    try {
                        outbox.wait(Math.max(1, left / 1_000_000));
                    } catch (InterruptedException e) {
                        config.logger().debug("nsqd " + address + ": writer interrupted; writing on");
                    }
                }
                if (outbox.isEmpty()) return;
                batch.addAll(outbox);
                outbox.clear();
                writerBusy = true;
            }
            try {
                write(o -> {
                    for (Queued q : batch) for (byte[] c : q.commands()) o.write(c);
                });
            } catch (IOException e) {
                sent = false;
                failed(e);
            }
            synchronized (outbox) {
                writerBusy = false;
            }
            for (Queued q : batch) tell(q, sent);
            batch.clear();
        }
        // Closed: what was queued since never goes out.
        synchronized (outbox) {
            batch.addAll(outbox);
            outbox.clear();
        }
        for (Queued q : batch) tell(q, false);
    }

    private void tell(Queued q, boolean sent) {
        if (q.then() == null) return;
        try {
            q.then().done(sent);
        } catch (RuntimeException e) {
            // A bug in the caller's follow-up: said, and the writer goes on.
            config.logger().error("nsqd " + address + ": after a write: " + NsqException.describe(e));
        }
    }

    /** Why this connection was closed under its user (a write past its deadline, a failed write), or null. */
    public String closedBecause() { return closedBecause; }

    public boolean isClosed() { return socket.isClosed(); }

    /** Closes the socket; a subscriber that wants nsqd to requeue at once sends REQ and CLS first. */
    @Override
    public void close() {
        deadline.cancel();
        synchronized (outbox) {
            outboxClosed = true;
            outbox.notifyAll();
        }
        try {
            socket.close();
        } catch (IOException e) {
            config.logger().debug("nsqd " + address + ": close failed: " + e.getMessage());
        }
    }
}
