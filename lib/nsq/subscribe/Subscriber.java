package nsq.subscribe;

import java.io.Closeable;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import nsq.Connection;
import nsq.HostPort;
import nsq.Names;
import nsq.NsqConfig;
import nsq.NsqException;
import nsq.http.NsqHttp;
import util.Backoff;
import util.Durations;
import util.Threads;

/**
 * Reads one channel of one or more topics from one or more nsqd (go-nsq's consumer.go), found
 * directly or through nsqlookupd. Each (topic, nsqd) gets a reader thread per connection (one
 * unless {@link #connectionsPerNode}) that connects (retrying transient failures with backoff),
 * subscribes and hands every message to the {@link Handler} on that thread. Written here instead
 * of using nsq-j because draining needs FIN/REQ/TOUCH on the wire at once (nsq-j buffers them up
 * to 2 s) and a CLS on close (nsq-j sends none).
 *
 * <p>RDY: {@code maxInFlight} bounds what nsqd may have in flight for us across every connection
 * and topic. Each connection gets an even share, capped by its nsqd's max_rdy_count; with more
 * connections than slots, the slots rotate (go-nsq's redistribution). A connection's claim on the
 * budget is the larger of its RDY and what it holds, so moving a slot waits for the old holder.
 *
 * <p>Outages: a connection that is refused, reset or silent (a SIGSTOPped nsqd, a partition) is made
 * again with backoff for as long as the subscriber runs; only a refusal (an error frame, TLS refused, an
 * answer nsqd never sends) stops it, through {@link Handler#onFatal}. Whether the subscriber could see a
 * message if there were one ({@link #listening()}) is what an idle timeout must ask before it believes
 * the quiet: a dead connection is not an idle one.
 *
 * <p>Thread model: one lock, this subscriber's monitor, guards all its state: the nodes and their sessions, the
 * RDY arithmetic (rotation, starvation, the delayed rebalances), what lookups found, the last failure, the fatal
 * one, and the start, pause and close flags (volatile only so that lock-free reads in answers see them). Under it
 * nothing blocks: RDY goes into each connection's outbox ({@link Connection#send}), written by that connection's
 * own writer thread. It is the only lock here, so there is no order to keep; a handler's locks may be held when
 * it is taken (an answer frees a slot), never the other way round. Threads: a reader per connection (connects,
 * subscribes, reads, calls the handler), one lookupd poller, and the shared {@code nsq-rdy} timer for the delayed
 * rebalances; callers' threads pause, resume, wait and close. A node's reader decides to leave under the lock and
 * leaves the map in the same step, so a poll that wants it again either finds it staying or starts a new one.
 * Waits ({@link #awaitReady}) are on the monitor, signalled by every change they look at.
 */
public final class Subscriber implements Closeable {
    /** Called on a connection's reader thread. */
    public interface Handler {
        /** Must answer (finish/requeue) the message some time; must not block the reader for long. */
        void onMessage(Message m);

        /**
         * Time to flush what was batched and answer it: the reader has no complete frame left and is about to wait
         * for nsqd, or holds half its window unanswered (nsqd would run dry waiting for FINs).
         */
        default void onBatchEnd() {}

        /**
         * A connection failed in a way retrying cannot fix (nsqd refused us, or the peer is not nsqd); it is not
         * retried.
         */
        default void onFatal(NsqException e) {}
    }

    /**
     * How often slots move when there are more connections than --max-in-flight, and how long a lowered RDY may still
     * be in nsqd's mind.
     */
    static final Duration ROTATE_EVERY = Duration.ofMillis(250), SETTLE = Duration.ofMillis(100);
    private static final Duration CLOSE_WAIT = Duration.ofSeconds(2);
    /** Sessions in a stable order for RDY shares (not Comparator.comparingInt, a lambda no AOT cache holds). */
    private static final Comparator<Session> BY_SEQ = (a, b) -> Integer.compare(a.seq, b.seq);
    /** One thread for every subscriber's delayed RDY work: idle subscribers cost nothing. */
    private static final ScheduledExecutorService TIMER =
        java.util.concurrent.Executors.newSingleThreadScheduledExecutor(Threads.daemons("nsq-rdy"));

    private final NsqConfig config;
    private final List<String> topics;
    private final String channel;
    private final int maxInFlight;
    private final Handler handler;
    private final List<HostPort> direct = new ArrayList<>();
    private List<HostPort> lookupd = List.of();
    private Duration pollInterval = Duration.ofSeconds(15);
    private Duration maxReqTimeout = Duration.ofHours(1);
    /**
     * A window this small keeps a lone message fast (nsqd flushes at RDY) and still keeps a slow reader's pipe full.
     */
    public static final int DEFAULT_FLOOR = 16;
    private int windowFloor;
    private int connectionsPerNode = 1;
    private ThreadFactory readers = body -> Threads.daemon("nsq-sub", body);

    // Guarded by this (see the class comment).
    private final Map<Node.Key, Node> nodes = new HashMap<>();
    private final Set<Session> sessions = new HashSet<>();
    private final Set<String> lookedUpEmpty = new HashSet<>(); // topics nsqlookupd knows no node for
    private boolean settleScheduled, rotationScheduled, waitsCancelled;
    private int rotation;
    private String lastError;
    private boolean refused;
    private Thread poller;
    // Counters: any thread, no lock.
    private final AtomicInteger inFlight = new AtomicInteger(), subscriptions = new AtomicInteger(),
        requeuedOnClose = new AtomicInteger(),
        requeuedUnread = new AtomicInteger();
    private final StaleAnswers staleAnswers;
    // Written under this, read without it.
    private volatile boolean paused, closing, started, starved;
    private volatile NsqException fatal;
    private volatile Duration msgTimeout, maxMsgTimeout;
    private volatile long startedNanos = System.nanoTime();

    public Subscriber(NsqConfig config, List<String> topics, String channel, int maxInFlight, Handler handler) {
        if (topics.isEmpty()) throw new IllegalArgumentException("no topic to subscribe to");
        for (String t : topics) Names.check("topic", t);
        Names.check("channel", channel);
        if (maxInFlight < 1) throw new IllegalArgumentException("maxInFlight " + maxInFlight + ": must be at least 1");
        this.config = config;
        this.topics = List.copyOf(topics);
        this.channel = channel;
        this.maxInFlight = maxInFlight;
        this.handler = handler;
        this.windowFloor = Math.min(DEFAULT_FLOOR, maxInFlight);
        this.staleAnswers = new StaleAnswers(config.logger());
    }

    /**
     * Connects straight to these nsqd TCP addresses (every topic on each) and reconnects to them for as long as it
     * runs.
     */
    public Subscriber connectTo(List<HostPort> nsqdTcp) {
        direct.addAll(nsqdTcp);
        return this;
    }

    /**
     * Where each connection's reader thread comes from (default: a platform daemon thread), e.g. {@link
     * Threads#readers()} for many mostly idle connections. Set before {@link #start}.
     */
    public Subscriber readerThreads(ThreadFactory factory) {
        this.readers = factory;
        return this;
    }

    /** Finds the nsqd that have each topic through nsqlookupd, polling for nodes that appear or go. */
    public Subscriber discoverWith(List<HostPort> lookupdHttp, Duration interval) {
        this.lookupd = List.copyOf(lookupdHttp);
        this.pollInterval = interval;
        return this;
    }

    /**
     * The fewest messages each connection may have in flight, however its window adapts (see {@link Session}):
     * what the handler can take at once, e.g. a pool of N workers. Default: {@link #DEFAULT_FLOOR}, at most
     * maxInFlight.
     */
    public Subscriber windowFloor(int floor) {
        if (floor < 1) throw new IllegalArgumentException("window floor " + floor + ": must be at least 1");
        this.windowFloor = Math.min(floor, maxInFlight);
        return this;
    }

    /**
     * Connections to each nsqd for each topic (default 1). nsqd serves a connection from one goroutine that
     * sends and one that reads our answers, so a consumer faster than that takes a second core of nsqd's
     * with a second connection (as NSQ's bench_reader does, one per core). The RDY budget spans them all.
     */
    public Subscriber connectionsPerNode(int n) {
        if (n < 1) throw new IllegalArgumentException("connections per nsqd " + n + ": must be at least 1");
        this.connectionsPerNode = n;
        return this;
    }

    /** nsqd's --max-req-timeout, which it silently clamps REQ delays to (default 1h). */
    public Subscriber maxReqTimeout(Duration max) {
        this.maxReqTimeout = max;
        return this;
    }

    public List<String> topics() { return topics; }
    public String channel() { return channel; }
    NsqConfig config() { return config; }
    Handler handler() { return handler; }
    Duration maxReqTimeout() { return maxReqTimeout; }
    int windowFloor() { return windowFloor; }
    boolean closing() { return closing; }
    StaleAnswers staleAnswers() { return staleAnswers; }

    /** Messages delivered and not yet answered, over every connection. */
    public int inFlight() { return inFlight.get(); }

    /**
     * Messages {@link #close()} handed back to nsqd (REQ 0) because nobody had answered them, and
     * those that were still on their way (sent by nsqd before it saw RDY 0 or CLS) and went back
     * unread: every REQ the close sent.
     */
    public int requeuedOnClose() { return requeuedOnClose.get() + requeuedUnread.get(); }

    /**
     * Of {@link #requeuedOnClose()}, the ones that arrived after the close began and were never handed to the handler.
     */
    public int requeuedUnread() { return requeuedUnread.get(); }

    /** Live, subscribed connections. */
    public synchronized int connections() { return sessions.size(); }

    /** The nsqd this subscriber follows now (connected or reconnecting), found directly or through nsqlookupd. */
    public synchronized Set<HostPort> following() {
        Set<HostPort> out = new HashSet<>();
        for (Node.Key k : nodes.keySet()) out.add(k.address());
        return out;
    }

    /** Successful subscriptions so far, reconnects included. */
    public int subscriptions() { return subscriptions.get(); }

    /**
     * The last connection or lookup failure, else what a connection being made waits for (silence is no failure yet);
     * null if none.
     */
    public synchronized String lastError() {
        if (lastError != null) return lastError;
        for (Node n : nodes.values()) {
            Connection c = n.opening;
            if (c != null) return c.waitingFor();
        }
        return null;
    }

    /** True when that failure was a refusal (connection refused, unknown host): nothing listens there now. */
    public synchronized boolean refused() { return refused; }

    /** The failure that stopped a connection for good, if any. */
    public NsqException fatal() { return fatal; }

    /** nsqd's msg_timeout for our connections (from IDENTIFY); nsqd's default until one connected. */
    public Duration msgTimeout() { return msgTimeout != null ? msgTimeout : Duration.ofSeconds(60); }

    /**
     * nsqd's --max-msg-timeout (from IDENTIFY): TOUCH keeps a message at most this long; nsqd's default until one
     * connected.
     */
    public Duration maxMsgTimeout() { return maxMsgTimeout != null ? maxMsgTimeout : Duration.ofMinutes(15); }

    /**
     * True when every connection this subscriber keeps is subscribed, has been heard from (a message or a heartbeat)
     * within its heartbeat interval and a margin, and is not stalled half-way through a frame: then no message nsqd
     * has for us can be out of sight, and a quiet spell means there is none. Otherwise a connection is down, dead or
     * dying (its reader drops it: mid-frame after seconds, silent after two heartbeat intervals) and is being made
     * again. Any thread may ask; an idle timeout must.
     */
    public synchronized boolean listening() {
        long now = System.nanoTime();
        for (Node n : nodes.values()) {
            Session s = n.session;
            if (s == null || !s.live(now)) return false;
        }
        return true;
    }

    /**
     * Since when every connection has been subscribed without a break (System.nanoTime()): the latest subscription, or
     * the start. An idle timeout counts from here at the earliest, so a connection just made again has its turn to
     * deliver what nsqd kept for us while it was down.
     */
    public synchronized long listeningSinceNanos() {
        long since = startedNanos;
        for (Node n : nodes.values()) {
            Session s = n.session;
            if (s != null && s.subscribedNanos - since > 0) since = s.subscribedNanos;
        }
        return since;
    }

    /** Starts connecting; transient failures are logged and retried. */
    public synchronized void start() {
        if (started) throw new IllegalStateException("already started");
        started = true;
        startedNanos = System.nanoTime();
        for (HostPort a : direct) for (String t : topics) follow(t, a, true);
        if (!lookupd.isEmpty()) poller = Threads.start("nsq-lookup", this::pollLoop);
    }

    /** What ended an {@link #awaitReady(Duration, Duration)}. */
    public enum Readiness {
        /** Every topic has something to read from. */
        READY,
        /** A connection or a lookup failed for good: {@link #fatal()}. */
        FATAL,
        /** Every attempt was refused (nothing listens there) for the refusal bound: {@link #lastError()}. */
        REFUSED,
        /** The timeout passed first: {@link #lastError()} says what it waits for. */
        TIMED_OUT,
        /** {@link #cancelWaits()} or {@link #close()} ended it. */
        CANCELLED
    }

    /**
     * Waits until every topic has something to read from: a subscribed connection, or nsqlookupd's
     * word that no nsqd has it yet. False when {@code timeout} passes first or a connection failed for good.
     */
    public boolean awaitReady(Duration timeout) throws InterruptedException {
        return awaitReady(timeout, timeout) == Readiness.READY;
    }

    /**
     * The same, and it gives up sooner, at {@code refusedFor} after the call, when the last failure then is a refusal
     * (connection refused, unknown host): nothing listens there, and a restarting nsqd takes less. Waits on this
     * subscriber's monitor, woken by each subscription, lookup, failure and close; no sleeps.
     */
    public synchronized Readiness awaitReady(Duration timeout, Duration refusedFor) throws InterruptedException {
        long start = System.nanoTime();
        long deadline = start + timeout.toNanos(), refusedDeadline = start + refusedFor.toNanos();
        while (true) {
            if (ready()) return Readiness.READY;
            if (fatal != null) return Readiness.FATAL;
            if (waitsCancelled || closing) return Readiness.CANCELLED;
            long now = System.nanoTime();
            if (refused && now - refusedDeadline >= 0) return Readiness.REFUSED;
            if (now - deadline >= 0) return Readiness.TIMED_OUT;
            long until = refused ? Math.min(deadline - now, refusedDeadline - now) : deadline - now;
            TimeUnit.NANOSECONDS.timedWait(this, until);
        }
    }

    /** Ends every {@link #awaitReady} now and later with CANCELLED: the caller is stopping. Any thread. */
    public synchronized void cancelWaits() {
        waitsCancelled = true;
        notifyAll();
    }

    private boolean ready() {
        Set<String> subscribed = new HashSet<>();
        for (Session s : sessions) subscribed.add(s.topic());
        for (String t : topics) if (!subscribed.contains(t) && !lookedUpEmpty.contains(t)) return false;
        return true;
    }

    /** A connection or lookup failed (transient): the last failure, for waits and logs. Under this. */
    private void failed(String error, boolean wasRefusal) {
        lastError = error;
        refused = wasRefusal;
        notifyAll();
    }

    /** A connection or lookup failed for good: the first such failure stops every wait. Under this. */
    private boolean fatal(NsqException e, String error) {
        lastError = error;
        notifyAll();
        if (fatal != null) return false;
        fatal = e;
        return true;
    }

    /** RDY 0 everywhere: nsqd stops sending; what is in flight stays ours to finish or requeue. */
    public synchronized void pause() {
        paused = true;
        rebalance();
    }

    /** Undoes {@link #pause()}. */
    public synchronized void resume() {
        paused = false;
        rebalance();
    }

    /** FIN for many messages with one write per connection (a batch answered after one flush of their output). */
    public static void finishAll(Collection<Message> messages) {
        Map<Session, List<Message>> byConnection = new HashMap<>();
        for (Message m : messages) {
            if (!(m.delegate() instanceof Session s)) m.finish();
            else if (m.markAnswered()) byConnection.computeIfAbsent(s, k -> new ArrayList<>()).add(m);
        }
        byConnection.forEach(Session::finishAll);
    }

    /**
     * Requeues (delay 0) whatever was delivered and not answered, sends CLS, waits a little for
     * nsqd's CLOSE_WAIT, and closes every connection. Nothing is left for nsqd's msg-timeout.
     */
    @Override
    public void close() {
        List<Node> following;
        List<Session> open;
        synchronized (this) {
            if (closing) return;
            closing = true;
            paused = true;
            notifyAll();
            following = new ArrayList<>(nodes.values());
            open = new ArrayList<>(sessions);
        }
        if (poller != null) poller.interrupt();
        for (Node n : following) n.abandonOpening(); // a connect or handshake waiting on a silent nsqd ends now
        for (Session s : open) requeuedOnClose.addAndGet(s.requeueAllAndClose());
        long deadline = System.nanoTime() + CLOSE_WAIT.toNanos();
        for (Session s : open) {
            try {
                if (!s.closeWait.await(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS)) {
                    config.logger().debug("nsqd " + s.address() + ": no CLOSE_WAIT within " + CLOSE_WAIT.toMillis()
                        + " ms; closing anyway");
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        for (Session s : open) s.closeSocket();
        staleAnswers.flush();
        synchronized (this) {
            following = new ArrayList<>(nodes.values()); // and any that began as close did
        }
        for (Node n : following) n.thread.interrupt();
        for (Node n : following) {
            try {
                n.thread.join(1_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
    }

    // ---- counting, called by sessions

    void delivered() { inFlight.incrementAndGet(); }

    /** A connection's adaptive window changed: its share of the budget follows. */
    synchronized void windowChanged() { rebalance(); }
    void countRequeuedUnread() { requeuedUnread.incrementAndGet(); }

    /** A message was answered (finish, requeue): no longer in flight for the handler. */
    void answering() { inFlight.decrementAndGet(); }

    /** Answers are on the wire (or lost with their connection): their RDY slots are free. On a writer thread. */
    void slotsFreed() {
        if (!starved) return; // the common case, without the lock
        synchronized (this) {
            if (starved) rebalance(); // a slot this answer freed may be waiting for another connection
        }
    }

    // ---- RDY

    /** Recomputes every connection's RDY: decreases first, then increases as far as the others' claims allow. */
    private void rebalance() {
        {
            List<Session> live = new ArrayList<>(sessions);
            live.sort(BY_SEQ);
            int n = live.size();
            int budget = paused || closing ? 0 : maxInFlight;
            long[] max = new long[n];
            for (int i = 0; i < n; i++) max[i] = Math.min(live.get(i).maxRdy, live.get(i).window);
            int[] want = RdyShares.of(budget, max, rotation);
            long settle = SETTLE.toNanos(), now = System.nanoTime();
            for (int i = 0; i < n; i++) if (want[i] < live.get(i).rdy) live.get(i).sendRdy(want[i], settle);
            int claimed = 0;
            for (Session s : live) claimed += s.claim(now);
            boolean short_ = false;
            for (int i = 0; i < n; i++) {
                Session s = live.get(i);
                if (want[i] <= s.rdy) continue;
                int others = claimed - s.claim(now);
                int grant = Math.min(want[i], budget - others);
                if (grant > s.rdy) {
                    s.sendRdy(grant, settle);
                    claimed = others + s.claim(now);
                }
                if (grant < want[i]) short_ = true;
            }
            starved = short_;
            if (short_) later(false, SETTLE.plusMillis(1)); // a lowered RDY settles: look again then
            if (budget > 0 && n > budget) later(true, ROTATE_EVERY); // more connections than slots
        }
    }

    /** One delayed rebalance of each kind at a time; a rotation moves the slots on once the last move is complete. */
    private void later(boolean rotate, Duration delay) {
        if (closing || (rotate ? rotationScheduled : settleScheduled)) return;
        if (rotate) rotationScheduled = true;
        else settleScheduled = true;
        TIMER.schedule(() -> {
            synchronized (this) {
                if (rotate) {
                    rotationScheduled = false;
                    if (!starved) rotation++;
                } else {
                    settleScheduled = false;
                }
                rebalance();
            }
        }, delay.toMillis(), TimeUnit.MILLISECONDS);
    }

    // ---- nodes and their reader threads

    /**
     * Starts (or keeps) following one topic on one nsqd, over each of its connections. {@code direct} nodes are
     * reconnected forever. A node in the map stays (its thread leaves the map in the step it decides to go).
     */
    private synchronized void follow(String topic, HostPort address, boolean isDirect) {
        if (closing) return;
        for (int i = 0; i < connectionsPerNode; i++) {
            Node.Key key = new Node.Key(topic, address, i);
            Node n = nodes.get(key);
            if (n != null) {
                n.wanted = true;
                continue;
            }
            n = new Node(key, isDirect);
            nodes.put(key, n);
            n.thread.start();
        }
    }

    /**
     * One connection's reader thread: one topic on one nsqd, the {@code connection}th of {@link #connectionsPerNode}.
     */
    private final class Node {
        /** equals and hashCode by hand: a record's own are bootstrapped at their first call (~5 ms of a cold start). */
        record Key(String topic, HostPort address, int connection) {
            @Override
            public boolean equals(Object o) {
                return o instanceof Key k && topic.equals(k.topic) && address.equals(k.address)
                    && connection == k.connection;
            }

            @Override
            public int hashCode() { return (topic.hashCode() * 31 + address.hashCode()) * 31 + connection; }
        }

        final Key key;
        final boolean isDirect;
        /** Lookup-found nodes stop reconnecting once nsqlookupd no longer lists them. Guarded by the subscriber. */
        boolean wanted = true;
        final Thread thread;
        /** The connection being made (until subscribed), for close() to end its wait. */
        private volatile Connection opening;
        /** The subscribed session, or null. Guarded by the subscriber. */
        Session session;

        Node(Key key, boolean isDirect) {
            this.key = key;
            this.isDirect = isDirect;
            this.thread = readers.newThread(this::run);
            thread.setName("nsq-sub-" + key.topic() + "-" + key.address() + "-" + key.connection());
        }

        private void run() {
            Backoff backoff = new Backoff(Duration.ofMillis(100), Duration.ofSeconds(5));
            long downSince = 0; // when the outage this node is riding out began; 0: none
            while (stays()) {
                Session s = null;
                long attemptStart = System.nanoTime();
                try {
                    s = subscribe();
                    backoff.reset();
                    synchronized (Subscriber.this) {
                        lastError = null;
                        refused = false;
                    }
                    if (downSince != 0 && key.connection() == 0) {
                        config.logger().info("nsqd " + key.address() + ": reading " + key.topic() + "/" + channel
                            + " again after "
                            + Durations.format(Duration.ofNanos(System.nanoTime() - downSince)));
                    }
                    downSince = 0;
                    read(s);
                } catch (IOException e) {
                    if (closing) break;
                    if (NsqException.isFatal(e)) {
                        stopForGood(NsqException.fatalCause(e));
                        break;
                    }
                    String error = NsqException.describe(e);
                    synchronized (Subscriber.this) {
                        failed(error, NsqException.isRefusal(e));
                    }
                    if (downSince == 0) downSince = System.nanoTime();
                    String at = "nsqd " + key.address();
                    boolean first = backoff.failures() == 0 && key.connection() == 0;
                    if (s != null) config.logger().warn(at + ": connection lost (" + error + "); reconnecting");
                    else if (first) config.logger().warn(error + "; retrying");
                    else config.logger().debug(error + "; retrying"); // a down nsqd must not flood the log
                } catch (RuntimeException | Error e) {
                    // A bug or an OutOfMemoryError on this reader: said once, and the run cannot end in exit 0.
                    if (!closing) stopForGood(new NsqException("nsqd " + key.address() + ": "
                        + e.getClass().getSimpleName() + ": "
                        + NsqException.describe(e), true, e));
                    break;
                } finally {
                    if (s != null) s.closeSocket();
                }
                if (closing) break;
                try {
                    // The delay counts from the attempt's start: one that waited on a silent nsqd (a stopped one
                    // answers the moment it resumes) already waited, so the next goes out at once and a resumed nsqd is
                    // read without delay.
                    long wait = backoff.next().toMillis() - (System.nanoTime() - attemptStart) / 1_000_000;
                    if (wait > 0) Thread.sleep(wait);
                } catch (InterruptedException e) {
                    if (closing) break;
                    config.logger().debug("nsqd " + key.address() + ": reconnect wait interrupted; reconnecting now");
                }
            }
            synchronized (Subscriber.this) {
                nodes.remove(key, this); // after a fatal failure or a Throwable (stays() did it otherwise)
            }
        }

        /**
         * Whether to (re)connect: not when closing, nor when a lookup-found node is no longer listed. A node that goes
         * leaves the map in the same step, under the lock {@link #follow} takes: a poll that lists it again either
         * found it here (wanted again: it stays) or finds it gone and starts a new one. Never dropped between the two.
         */
        private boolean stays() {
            synchronized (Subscriber.this) {
                if (!closing && (isDirect || wanted)) return true;
                nodes.remove(key, this);
                return false;
            }
        }

        /** Connects, identifies and subscribes; close() can end each wait on the way. */
        private Session subscribe() throws IOException {
            Connection c = Connection.to(key.address(), config);
            opening = c;
            try {
                if (closing) { // close() may have looked for `opening` before it was set
                    c.close();
                    throw new IOException("closing");
                }
                return new Session(Subscriber.this, key.topic(), c.open());
            } finally {
                opening = null;
            }
        }

        /** close(): ends a connect or handshake in progress (the thread then sees `closing`). */
        void abandonOpening() {
            Connection c = opening;
            if (c != null) c.close();
        }

        private void read(Session s) throws IOException {
            synchronized (Subscriber.this) {
                if (closing) return; // close() has taken its snapshot of the sessions
                sessions.add(s);
                subscriptions.incrementAndGet();
                s.subscribedNanos = System.nanoTime();
                session = s;
                msgTimeout = s.msgTimeout;
                maxMsgTimeout = s.maxMsgTimeout;
                rebalance();
                Subscriber.this.notifyAll(); // awaitReady
            }
            if (config.logger().debugEnabled()) {
                config.logger().debug("nsqd " + key.address() + ": subscribed to " + key.topic() + "/" + channel);
            }
            try {
                s.readLoop();
            } finally {
                synchronized (Subscriber.this) {
                    session = null;
                    sessions.remove(s);
                    if (!closing) rebalance();
                }
            }
        }

        private void stopForGood(NsqException e) {
            // before fatal is set: a caller that sees it may exit at once
            config.logger().error(e.getMessage() + " (not retried)");
            synchronized (Subscriber.this) {
                fatal(e, e.getMessage());
            }
            handler.onFatal(e);
        }
    }

    private void pollLoop() {
        Backoff backoff = new Backoff(Duration.ofMillis(200), pollInterval);
        while (!closing) {
            boolean answered = false;
            for (String topic : topics) answered |= lookUp(topic, backoff);
            if (answered) backoff.reset();
            try {
                Thread.sleep(answered ? pollInterval.toMillis() : backoff.next().toMillis());
            } catch (InterruptedException e) {
                if (closing) return;
                config.logger().debug("nsqlookupd poll wait interrupted; polling now");
            }
        }
    }

    /** Follows every nsqd some nsqlookupd lists for {@code topic}; true when one answered. */
    private boolean lookUp(String topic, Backoff backoff) {
        Set<HostPort> found = new HashSet<>();
        boolean answered = false;
        for (HostPort l : lookupd) {
            try {
                for (NsqHttp.Producer p : new NsqHttp(l,
                    Duration.ofSeconds(3)).lookup(topic).producers()) found.add(p.tcp());
                answered = true;
            } catch (IOException e) {
                if (NsqException.isFatal(e)) {
                    // Not nsqlookupd's HTTP port: said once, before anyone sees fatal() and exits.
                    NsqException cause = NsqException.fatalCause(e);
                    String error = "nsqlookupd " + l + ": " + cause.getMessage();
                    boolean first;
                    synchronized (this) {
                        first = fatal == null;
                        if (first) config.logger().error(error + " (not retried)");
                        fatal(cause, error);
                    }
                    if (first) handler.onFatal(cause);
                    return false;
                }
                String error = "nsqlookupd " + l + ": " + NsqException.describe(e);
                synchronized (this) {
                    failed(error, NsqException.isRefusal(e));
                }
                if (backoff.failures() == 0) config.logger().warn(error + "; retrying");
                else config.logger().debug(error + "; retrying");
            }
        }
        if (!answered) return false;
        synchronized (this) {
            for (Node n : nodes.values()) {
                if (!n.isDirect && n.key.topic().equals(topic) && !found.contains(n.key.address())) n.wanted = false;
            }
            for (HostPort a : found) follow(topic, a, false);
            if (found.isEmpty()) lookedUpEmpty.add(topic);
            else lookedUpEmpty.remove(topic);
            notifyAll(); // awaitReady
        }
        return true;
    }
}
