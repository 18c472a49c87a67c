import java.io.Closeable;
import java.io.IOException;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Subscribes to one topic/channel on one or more nsqd over NSQ's TCP protocol. Written here
 * instead of using nsq-j's Subscriber because draining needs FIN/REQ/TOUCH on the wire at once
 * (nsq-j buffers them up to 2 s), a CLS on close (nsq-j sends none), one independent client per
 * instance (nsq-j's default client is global and single-use) and prompt reconnects.
 *
 * <p>Each nsqd gets a reader thread that connects (retrying with {@link Backoff}), identifies,
 * subscribes, sends RDY and hands every message to the {@link Handler} on that thread.
 */
final class NsqSubscriber implements Closeable {
    /** Called on the connection's reader thread; must not block long. */
    interface Handler {
        void handle(Message m);

        /** Called on the reader thread when no more messages are buffered, before it waits for nsqd:
         *  the moment for a batching handler to flush and finish what it holds. */
        default void endOfBatch() {}
    }

    private static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(3);
    /** nsqd's default heartbeat is 30 s; two missed ones mean the connection is dead. */
    private static final Duration DEFAULT_HEARTBEAT = Duration.ofSeconds(30);
    private static final Duration CLOSE_WAIT = Duration.ofSeconds(2);

    private final String topic, channel;
    private final int maxInFlight;
    private final Handler handler;
    private final List<HostPort> direct = new ArrayList<>();
    private List<HostPort> lookupd = List.of();
    private Duration pollInterval = Duration.ofSeconds(10);
    private Duration heartbeat;

    private final Map<HostPort, Node> nodes = new ConcurrentHashMap<>();
    private final Set<Session> sessions = ConcurrentHashMap.newKeySet();
    private final AtomicInteger inFlight = new AtomicInteger(), subscriptions = new AtomicInteger();
    private volatile boolean paused, closing, started;
    private volatile String lastError;
    private volatile boolean refused;
    private volatile boolean lookupdAnswered;
    private volatile Duration msgTimeout;
    private Thread poller;

    NsqSubscriber(String topic, String channel, int maxInFlight, Handler handler) {
        if (!Names.isValid(topic)) throw new IllegalArgumentException("invalid topic '" + topic + "': " + Names.RULE);
        if (!Names.isValid(channel)) throw new IllegalArgumentException("invalid channel '" + channel + "': " + Names.RULE);
        if (maxInFlight < 1) throw new IllegalArgumentException("maxInFlight must be at least 1");
        this.topic = topic;
        this.channel = channel;
        this.maxInFlight = maxInFlight;
        this.handler = handler;
    }

    /** Connects straight to these nsqd TCP addresses and reconnects to them for as long as it runs. */
    NsqSubscriber connectTo(List<HostPort> nsqdTcp) {
        direct.addAll(nsqdTcp);
        return this;
    }

    /** Finds the nsqd that have the topic through nsqlookupd, polling for nodes that appear or go. */
    NsqSubscriber discoverWith(List<HostPort> lookupdHttp, Duration pollInterval) {
        this.lookupd = List.copyOf(lookupdHttp);
        this.pollInterval = pollInterval;
        return this;
    }

    /** Asks nsqd for this heartbeat interval (at least 1 s) instead of its default (30 s). */
    NsqSubscriber heartbeat(Duration interval) {
        this.heartbeat = interval;
        return this;
    }

    String topic() { return topic; }
    String channel() { return channel; }

    /** Messages delivered and not yet finished or requeued. */
    int inFlight() { return inFlight.get(); }

    /** Live, subscribed connections. */
    int connections() { return sessions.size(); }

    /** Successful subscriptions so far, reconnects included. */
    int subscriptions() { return subscriptions.get(); }

    /** The last connection or lookup failure, for a caller deciding to give up; null if none. */
    String lastError() { return lastError; }

    /** True when that failure was a refusal (connection refused, unknown host), not slowness: nothing listens there now. */
    boolean refused() { return refused; }

    /** nsqd's msg_timeout for our connections (from IDENTIFY); nsqd's default until one connected. */
    Duration msgTimeout() { return msgTimeout != null ? msgTimeout : Duration.ofSeconds(60); }

    /** Starts connecting; unreachable nodes are logged and retried. */
    synchronized void start() {
        if (started) throw new IllegalStateException("already started");
        started = true;
        for (HostPort a : direct) follow(a, true);
        if (!lookupd.isEmpty()) {
            poller = new Thread(this::pollLoop, "nsq-lookup-" + topic);
            poller.setDaemon(true);
            poller.start();
        }
    }

    /**
     * Waits until there is something to read from: a subscribed connection (direct nodes), or an
     * answer from nsqlookupd (which may list no node yet). False when {@code timeout} passes first.
     */
    boolean awaitReady(Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (!ready()) {
            if (System.nanoTime() > deadline) return false;
            Thread.sleep(20);
        }
        return true;
    }

    private boolean ready() {
        return !sessions.isEmpty() || lookupdAnswered && nodes.isEmpty();
    }

    /** RDY 0 everywhere: nsqd stops sending; what is in flight stays ours to finish or requeue. */
    void pause() {
        paused = true;
        for (Session s : sessions) s.sendRdy(0);
    }

    /** Undoes {@link #pause()}. */
    void resume() {
        paused = false;
        updateRdy();
    }

    /**
     * Requeues (delay 0) whatever was delivered and not answered, sends CLS, waits a little for
     * nsqd's CLOSE_WAIT, and closes every connection. Nothing is left for nsqd's msg-timeout.
     */
    @Override
    public void close() {
        synchronized (this) {
            if (closing) return;
            closing = true;
            paused = true;
        }
        if (poller != null) poller.interrupt();
        List<Session> open;
        synchronized (this) {
            open = new ArrayList<>(sessions);
        }
        for (Session s : open) s.requeueAllAndClose();
        long deadline = System.nanoTime() + CLOSE_WAIT.toNanos();
        for (Session s : open) {
            try {
                if (!s.closeWait.await(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS)) {
                    Log.debug("nsqd %s: no CLOSE_WAIT within %s; closing anyway", s.conn.address(), Cli.format(CLOSE_WAIT));
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        for (Session s : open) s.closeSocket();
        for (Node n : nodes.values()) n.thread.interrupt();
        for (Node n : nodes.values()) {
            try {
                n.thread.join(1_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
    }

    // ---- nodes and their reader threads

    /** Starts (or keeps) following one nsqd. {@code direct} nodes are reconnected forever. */
    private synchronized void follow(HostPort address, boolean isDirect) {
        if (closing) return;
        Node n = nodes.get(address);
        if (n != null && n.thread.isAlive()) {
            n.wanted = true;
            return;
        }
        n = new Node(address, isDirect);
        nodes.put(address, n);
        n.thread.start();
    }

    private final class Node {
        final HostPort address;
        final boolean isDirect;
        /** Lookup-found nodes stop reconnecting once nsqlookupd no longer lists them. */
        volatile boolean wanted = true;
        final Thread thread;

        Node(HostPort address, boolean isDirect) {
            this.address = address;
            this.isDirect = isDirect;
            this.thread = new Thread(this::run, "nsq-sub-" + topic + "-" + address);
            thread.setDaemon(true);
        }

        private void run() {
            Backoff backoff = new Backoff(Duration.ofMillis(100), Duration.ofSeconds(5));
            while (!closing && (isDirect || wanted)) {
                Session s = null;
                try {
                    s = new Session(address);
                    backoff.reset();
                    s.readLoop();
                } catch (IOException e) {
                    if (closing) break;
                    lastError = Cli.describe(e);
                    refused = isRefusal(e);
                    if (s == null) {
                        // First failure loud, repeats quiet: a down nsqd must not flood the log.
                        if (backoff.failures() == 0) Log.warn("%s; retrying", lastError);
                        else Log.debug("%s; retrying", lastError);
                    } else {
                        Log.warn("nsqd %s: connection lost (%s); reconnecting", address, e.getMessage());
                    }
                } finally {
                    if (s != null) s.closeSocket();
                }
                if (closing) break;
                try {
                    Thread.sleep(backoff.next().toMillis());
                } catch (InterruptedException e) {
                    if (closing) break;
                    Log.debug("nsqd %s: reconnect wait interrupted; reconnecting now", address);
                }
            }
            nodes.remove(address, this);
        }
    }

    private void pollLoop() {
        Backoff backoff = new Backoff(Duration.ofMillis(200), pollInterval);
        while (!closing) {
            Set<HostPort> found = new LinkedHashSet<>();
            int answered = 0;
            for (HostPort l : lookupd) {
                try {
                    for (NsqHttp.Producer p : new NsqHttp(l, Duration.ofSeconds(3)).lookup(topic).producers()) found.add(p.tcp());
                    answered++;
                } catch (IOException e) {
                    lastError = "nsqlookupd " + l + ": " + Cli.describe(e);
                    refused = isRefusal(e);
                    if (backoff.failures() == 0) Log.warn("%s; retrying", lastError);
                    else Log.debug("%s; retrying", lastError);
                }
            }
            if (answered > 0) {
                for (Node n : nodes.values()) if (!n.isDirect && !found.contains(n.address)) n.wanted = false;
                for (HostPort a : found) follow(a, false);
                lookupdAnswered = true;
                backoff.reset();
            }
            try {
                Thread.sleep(answered > 0 ? pollInterval.toMillis() : backoff.next().toMillis());
            } catch (InterruptedException e) {
                if (closing) return;
                Log.debug("nsqlookupd poll wait interrupted; polling now");
            }
        }
    }

    /** A timeout anywhere in the chain is slowness (the JDK's HTTP client wraps its connect timeout in a ConnectException). */
    private static boolean isRefusal(Throwable e) {
        boolean refusal = false;
        for (Throwable c = e; c != null; c = c.getCause()) {
            if (c instanceof java.net.SocketTimeoutException || c instanceof java.net.http.HttpTimeoutException) return false;
            refusal |= c instanceof java.net.ConnectException || c instanceof java.net.UnknownHostException
                || c instanceof java.nio.channels.UnresolvedAddressException;
        }
        return refusal;
    }

    private Duration readTimeout() {
        return (heartbeat != null ? heartbeat : DEFAULT_HEARTBEAT).multipliedBy(2).plusSeconds(5);
    }

    // ---- RDY

    /** maxInFlight spread over the live connections, at least 1 each (capped by nsqd's max_rdy_count). */
    private int rdyPerConnection(Session s) {
        if (paused) return 0;
        int n = Math.max(1, sessions.size());
        int rdy = Math.max(1, maxInFlight / n);
        return (int) Math.min(rdy, s.maxRdy);
    }

    private void updateRdy() {
        for (Session s : sessions) s.sendRdy(rdyPerConnection(s));
    }

    // ---- one connection

    private final class Session {
        final NsqConnection conn;
        final long maxRdy;
        final Map<String, Message> unanswered = new ConcurrentHashMap<>();
        final CountDownLatch closeWait = new CountDownLatch(1);
        volatile boolean closed;
        int lastRdy = -1;

        NsqSubscriber owner() { return NsqSubscriber.this; }

        Session(HostPort address) throws IOException {
            conn = new NsqConnection(address, CONNECT_TIMEOUT, readTimeout(),
                heartbeat == null ? Map.of() : Map.of("heartbeat_interval", heartbeat.toMillis()));
            try {
                maxRdy = conn.maxRdyCount();
                msgTimeout = conn.msgTimeout();
                conn.send("SUB " + topic + " " + channel + "\n");
                String ok = conn.readResponse().text();
                if (!"OK".equals(ok)) throw new IOException("nsqd " + address + " answered SUB with '" + ok + "'");
            } catch (IOException e) {
                conn.close();
                throw e;
            }
        }

        void readLoop() throws IOException {
            synchronized (NsqSubscriber.this) {
                if (closing) return; // close() has already taken its snapshot of the sessions
                sessions.add(this);
                subscriptions.incrementAndGet();
            }
            Log.debug("nsqd %s: subscribed to %s/%s", conn.address(), topic, channel);
            updateRdy();
            try {
                while (!closed) {
                    if (conn.available() == 0) handler.endOfBatch();
                    NsqConnection.Frame f;
                    try {
                        f = conn.readFrame();
                    } catch (SocketTimeoutException e) {
                        throw new IOException("no heartbeat from nsqd " + conn.address() + " for " + Cli.format(readTimeout()), e);
                    }
                    switch (f.type()) {
                        case NsqConnection.FRAME_MESSAGE -> deliver(f.data());
                        case NsqConnection.FRAME_RESPONSE -> {
                            String text = f.text();
                            if (NsqConnection.HEARTBEAT.equals(text)) send("NOP\n");
                            else if ("CLOSE_WAIT".equals(text)) {
                                closeWait.countDown();
                                return;
                            }
                        }
                        case NsqConnection.FRAME_ERROR -> onError(f.text());
                        default -> throw new IOException("nsqd " + conn.address() + " sent unknown frame type " + f.type());
                    }
                }
            } catch (IOException e) {
                if (closed || closing) {
                    Log.debug("nsqd %s: connection closed (%s)", conn.address(), e.getMessage());
                    return;
                }
                throw e;
            } finally {
                sessions.remove(this);
                closeWait.countDown();
                if (!closing) updateRdy();
            }
        }

        /** E_FIN_FAILED and friends (a message that already timed out) are not fatal; others are. */
        private void onError(String text) throws IOException {
            if (text.startsWith("E_FIN_FAILED") || text.startsWith("E_REQ_FAILED") || text.startsWith("E_TOUCH_FAILED")) {
                Log.warn("nsqd %s: %s (the message had timed out and will be redelivered)", conn.address(), text);
                return;
            }
            throw new IOException("nsqd " + conn.address() + ": " + text);
        }

        private void deliver(byte[] data) {
            ByteBuffer b = ByteBuffer.wrap(data);
            long ts = b.getLong();
            int attempts = Short.toUnsignedInt(b.getShort());
            String id = new String(data, 10, 16, StandardCharsets.US_ASCII);
            byte[] body = new byte[data.length - 26];
            System.arraycopy(data, 26, body, 0, body.length);
            Message m = new Message(this, id, attempts, ts, body);
            inFlight.incrementAndGet();
            unanswered.put(id, m);
            if (closing) {
                m.requeue(Duration.ZERO); // arrived after CLS: not ours to handle
                return;
            }
            try {
                handler.handle(m);
            } catch (RuntimeException e) {
                // A handler bug must not leave the message to nsqd's msg-timeout.
                Log.error("handler failed on message %s: %s; requeueing", id, Cli.describe(e));
                m.requeue(Duration.ZERO);
            }
        }

        synchronized void sendRdy(int n) {
            if (closed || n == lastRdy) return;
            if (send("RDY " + n + "\n")) lastRdy = n;
        }

        boolean send(String line) {
            try {
                conn.send(line);
                return true;
            } catch (IOException e) {
                Log.debug("nsqd %s: '%s' not sent: %s", conn.address(), line.strip(), e.getMessage());
                return false;
            }
        }

        /** Drain: REQ 0 everything unanswered, then CLS (nsqd answers CLOSE_WAIT). */
        void requeueAllAndClose() {
            List<String> lines = new ArrayList<>();
            for (Message m : unanswered.values()) {
                if (m.answered.compareAndSet(false, true)) {
                    inFlight.decrementAndGet();
                    lines.add("REQ " + m.id + " 0\n");
                }
            }
            unanswered.clear();
            if (!lines.isEmpty()) Log.info("nsqd %s: requeueing %d unfinished message(s)", conn.address(), lines.size());
            lines.add("CLS\n");
            try {
                conn.send(lines);
            } catch (IOException e) {
                Log.debug("nsqd %s: CLS not sent (%s); closing anyway", conn.address(), e.getMessage());
                closeWait.countDown();
            }
        }

        void closeSocket() {
            closed = true;
            try {
                conn.close();
            } catch (IOException e) {
                Log.debug("nsqd %s: close failed: %s", conn.address(), e.getMessage());
            }
        }
    }

    /**
     * FIN for many messages with one write per connection: for handlers that finish in batches
     * (e.g. after one flush of their output). Written at once, like {@link Message#finish()}.
     */
    static void finishAll(Collection<Message> messages) {
        Map<Session, List<String>> lines = new HashMap<>();
        for (Message m : messages) {
            if (m.markAnswered()) lines.computeIfAbsent(m.session, s -> new ArrayList<>()).add("FIN " + m.id + "\n");
        }
        lines.forEach((session, fins) -> {
            try {
                session.conn.send(fins);
            } catch (IOException e) {
                Log.debug("nsqd %s: %d FIN not sent: %s", session.conn.address(), fins.size(), e.getMessage());
            }
        });
    }

    /** One delivered message. finish/requeue/touch each write their command at once; the first answer wins. */
    static final class Message {
        private final Session session;
        private final String id;
        private final int attempts;
        private final long timestampNanos;
        private final byte[] body;
        private final AtomicBoolean answered = new AtomicBoolean();

        private Message(Session session, String id, int attempts, long timestampNanos, byte[] body) {
            this.session = session;
            this.id = id;
            this.attempts = attempts;
            this.timestampNanos = timestampNanos;
            this.body = body;
        }

        byte[] body() { return body; }
        String id() { return id; }
        /** Delivery count, 1 on the first delivery. */
        int attempts() { return attempts; }
        long timestampNanos() { return timestampNanos; }
        HostPort from() { return session.conn.address(); }

        void finish() { answer("FIN " + id + "\n"); }

        void requeue(Duration delay) { answer("REQ " + id + " " + Math.max(0, delay.toMillis()) + "\n"); }

        /** Resets nsqd's msg-timeout for this message. */
        void touch() {
            if (!answered.get()) session.send("TOUCH " + id + "\n");
        }

        private void answer(String line) {
            if (markAnswered()) session.send(line);
        }

        private boolean markAnswered() {
            if (!answered.compareAndSet(false, true)) return false;
            session.unanswered.remove(id);
            session.owner().inFlight.decrementAndGet();
            return true;
        }

        @Override public String toString() { return "message " + id + " (attempt " + attempts + ") from " + from(); }
    }
}
