package wake;

import activation.WakeSocket;
import cli.Log;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Collection;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.PriorityQueue;
import java.util.Queue;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.LongAdder;
import util.Backoff;
import util.Durations;
import util.Errors;
import util.Statsd;
import util.Threads;

/**
 * Wakes socket-activated groups: group G is socket-backed when {@code <dir>/G.sock} is a socket
 * itself ({@link SocketDir}: a symlink there is refused), and waking it is the {@link WakeSocket}
 * round trip there: the line {@code wake <stream> <group>} ({@code ... backlog} for a scan's wake),
 * answered {@code ok}. Per group: one wake
 * under way at a time and none within the debounce window after one, so a burst of messages is one
 * wake; a refused or reset wake (the consumer was exiting and took its socket along) is tried again
 * with backoff; the group's state ("ok", "no socket", "symlink", "refused", ...) is logged once per change.
 *
 * <p>Thread model: one thread, the wake loop, owns every group's state and every wake connection.
 * It connects without blocking (a unix socket is connected or refused at once), writes the line and
 * waits for the answers of every wake under way in one selector, each with its deadline, so a
 * thousand groups woken at once are one thread, not a thousand (the cached pool this replaced
 * started a thread per wake under way: up to one per group for --wake-timeout). At most
 * {@code maxUnderWay} wakes are under way at once, each an open socket and, under systemd, a
 * consumer starting; the rest wait their turn in the order they were asked for. Other threads only
 * hand the loop requests (a queue, then {@link Selector#wakeup}) and read what it publishes after
 * every change: one immutable {@link Status} per group.
 */
public final class GroupWaker implements AutoCloseable {
    public enum Reason { scan, push, deferred }

    /** A failed wake is tried again this many times with backoff; after that the next scan's turn. */
    public static final int RETRIES = 5;

    /**
     * A scan's wake is not sent to a group whose consumer answered a wake less than this ago: that consumer is still
     * there (woken for a backlog, it stays --backlog-linger, 1 s by default, after its last message) and takes what
     * the scan saw waiting. Sent anyway, behind a herd's queue it reached the socket after the consumer had left and
     * started a JVM for nothing (bench herd: h030 answered, a scan 0.2 s later saw 176 of its 200 waiting, that wake
     * waited 11.6 s for a slot and started a second JVM 9.6 s after the first had left). A consumer that did leave
     * sooner is woken by the next scan; a publish's wake is never held back by this.
     */
    public static final Duration JUST_WOKEN = Duration.ofSeconds(2);

    /** A wake this long after the group's previous one is logged at info; closer ones at debug. */
    public static final Duration QUIET = Duration.ofSeconds(10);

    /**
     * A group as the loop last published it: its last wake and error (epoch millis), wakes so far, and whether one is
     * asked for or under way.
     */
    public record Status(String group, String stream, String state, long wakes, Wake lastWake, Failure lastError,
        boolean pending) {}

    /**
     * A wake that was answered: when, why, and its round trip (under systemd, the consumer's start until it accepted).
     */
    public record Wake(long atMillis, Reason reason, long latencyMillis) {}

    public record Failure(long atMillis, String message) {}

    private final SocketDir dir;
    private final Duration debounce, timeout;
    private final int maxUnderWay;
    private final Selector selector;
    private final Queue<Runnable> inbox = new ConcurrentLinkedQueue<>();
    private final Map<String, Status> published = new ConcurrentHashMap<>();
    private volatile Set<String> listed;   // the socket dir as the last scan listed it
    private volatile boolean closed;
    private volatile Throwable died;
    private Thread loop;
    // Metrics: set before start (Thread.start publishes them to the loop), then only added to.
    private final Map<Reason, LongAdder> wakesBy = new java.util.EnumMap<>(Reason.class);
    private Statsd.Timer wakeLatency;
    private LongAdder wakeErrors;

    // The loop's own: nothing below is touched by another thread.
    private final Map<String, Group> groups = new HashMap<>();
    private final ArrayDeque<Group> waiting = new ArrayDeque<>();
    private final PriorityQueue<Timer> timers = new PriorityQueue<>(Comparator.comparingLong(Timer::at));
    private int underWay;
    private long queueSince;  // when wakes began to wait for a slot; 0 while none waits

    /** {@code maxUnderWay}: wakes under way at once; more wait in arrival order. Call {@link #start} to run. */
    public GroupWaker(Path dir, Duration debounce, Duration timeout, int maxUnderWay) {
        if (maxUnderWay < 1) throw new IllegalArgumentException("maxUnderWay " + maxUnderWay + ": at least 1");
        this.dir = new SocketDir(dir);
        this.debounce = debounce;
        this.timeout = timeout;
        this.maxUnderWay = maxUnderWay;
        metrics(Statsd.off());
        try {
            this.selector = Selector.open();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot open a selector for the wakes", e);
        }
    }

    /**
     * Counts into {@code statsd}, under {@code wakeup.}: wakes.push, wakes.scan, wakes.deferred (answered wakes),
     * wake_latency (their round trip) and errors.wake (an attempt refused, reset or timed out; a socket that is a
     * symlink or not a socket). Before {@link #start}.
     */
    public synchronized GroupWaker metrics(Statsd statsd) {
        if (loop != null) throw new IllegalStateException("metrics(): before start()");
        for (Reason r : Reason.values()) wakesBy.put(r, statsd.counter("wakeup.wakes." + r));
        wakeLatency = statsd.timer("wakeup.wake_latency");
        wakeErrors = statsd.counter("wakeup.errors.wake");
        return this;
    }

    public synchronized GroupWaker start() {
        if (loop == null) loop = Threads.start("wakeup-wake", this::run);
        return this;
    }

    /** Stops the loop; wakes under way are dropped (their connection has started the consumer already). */
    @Override
    public void close() throws InterruptedException {
        closed = true;
        Thread l;
        synchronized (this) {
            l = loop;
        }
        if (l == null) {
            closeQuietly(selector);
            return;
        }
        selector.wakeup();
        l.join(5_000);
    }

    /** What ended the loop before {@link #close}; null while it runs. */
    public Throwable died() { return died; }

    /**
     * The groups that have a G.sock entry now, from one listing of the directory: a scan asks this of
     * every group (1,000 stat calls a scan otherwise). Whether an entry really is a socket is checked
     * when it is woken. A group whose socket went since the last listing is said once.
     */
    public Set<String> listing() {
        Set<String> names = dir.listing();
        listed = names;
        submit(() -> socketsListed(names));
        return names;
    }

    /**
     * Wakes {@code group} unless a wake is asked for, under way, or finished less than the debounce ago. Any thread.
     */
    public void request(String stream, String group, Reason reason) {
        submit(() -> asked(stream, group, reason));
    }

    /** Successful wakes (the consumer answered ok) of {@code group} so far. */
    public long wakes(String group) { Status s = published.get(group); return s == null ? 0 : s.wakes(); }

    /**
     * Why the last attempt to wake {@code group} did or did not reach it: "ok", "no socket", "symlink", "refused", ...;
     * null if never asked.
     */
    public String state(String group) {
        Status s = published.get(group);
        if (s != null && s.state() != null) return s.state();
        Set<String> l = listed;
        return l != null && !l.contains(group) ? "no socket" : null;
    }

    /** Every group asked for so far, as the loop last published it. */
    public Collection<Status> status() { return List.copyOf(published.values()); }

    /** True once every request made before this call was decided and no wake is waiting or under way. */
    public CompletableFuture<Boolean> quiet() {
        CompletableFuture<Boolean> f = new CompletableFuture<>();
        submit(() -> f.complete(underWay == 0 && waiting.isEmpty()));
        return f;
    }

    private void submit(Runnable task) {
        inbox.add(task);
        selector.wakeup();
    }

    // ---- the loop

    private void run() {
        try {
            while (!closed) {
                long now = System.nanoTime();
                for (Timer t; (t = timers.peek()) != null && t.at() - now <= 0; ) fire(timers.poll());
                admit();
                Timer next = timers.peek();
                if (!inbox.isEmpty()) selector.selectNow();
                else selector.select(next == null ? 0 : Math.max(1, (next.at() - now + 999_999) / 1_000_000));
                for (SelectionKey k : selector.selectedKeys()) ready(k);
                selector.selectedKeys().clear();
                for (Runnable task; (task = inbox.poll()) != null; ) task.run();
            }
        } catch (IOException | RuntimeException | Error e) {
            died = e;
            Log.error("the wake loop stopped: %s", Errors.oneLine(e));
        } finally {
            for (Group g : groups.values()) if (g.attempt != null) closeQuietly(g.attempt.channel);
            closeQuietly(selector);
        }
    }

    private void asked(String stream, String name, Reason reason) {
        Group g = groups.computeIfAbsent(name, n -> new Group(n, dir.socket(n), debounce));
        if (g.queued) {
            if (reason != Reason.scan) g.reason = reason; // a fresh publish outranks a backlog: idle time kept
            return;
        }
        long sinceOk = System.nanoTime() - g.lastOk;
        if (reason == Reason.scan && g.attempt == null && "ok".equals(g.state) && sinceOk < JUST_WOKEN.toNanos()) {
            Log.debug("scan: %s's consumer answered %s ago: it takes what is waiting, no wake", name,
                Durations.format(Duration.ofNanos(sinceOk)));
            return;
        }
        if (g.attempt != null || System.nanoTime() - g.lastEnd < debounce.toNanos()) {
            // Debounced, except that a consumer told only of a backlog lingers briefly (--backlog-linger): a fresh
            // publish it would not hear of must still reach it after the debounce, or it leaves and the next publish
            // waits on a start.
            if (reason != Reason.scan && g.toldBacklog && !g.freshOwed) {
                g.freshOwed = true;
                long at = Math.max(System.nanoTime(), g.lastEnd) + debounce.toNanos() + 1_000_000;
                timers.add(new Timer(at, g, null, stream, reason));
            }
            return;
        }
        g.queued = true;
        g.stream = stream;
        g.reason = reason;
        waiting.add(g);
        publish(g);
    }

    private void admit() {
        while (underWay < maxUnderWay && !waiting.isEmpty()) begin(waiting.poll());
        // The admission is a decision worth seeing: once when wakes start to queue, once when the queue is gone.
        if (!waiting.isEmpty() && queueSince == 0) {
            queueSince = System.nanoTime();
            Log.info("%d wakes under way, the most at once (--max-wakes): the rest wait their turn", underWay);
        } else if (waiting.isEmpty() && queueSince != 0) {
            Log.info("every waiting wake has started, %s after the first had to wait",
                Durations.format(Duration.ofNanos(System.nanoTime() - queueSince)));
            queueSince = 0;
        }
    }

    /** Checks the socket (links not followed), connects without blocking and sends the line. */
    private void begin(Group g) {
        g.queued = false;
        SocketDir.Kind kind = SocketDir.kind(g.socket);
        if (kind != SocketDir.Kind.SOCKET) {
            skipped(g, kind);
            g.lastEnd = System.nanoTime();
            publish(g);
            return;
        }
        SocketChannel ch;
        try {
            ch = SocketChannel.open(StandardProtocolFamily.UNIX);
            ch.configureBlocking(false);
        } catch (IOException e) { // out of file descriptors, say: like a refused wake, tried again
            failedToStart(g, e);
            return;
        }
        Attempt a = new Attempt(g, g.stream, g.reason, ch);
        g.attempt = a;
        g.toldBacklog = g.reason == Reason.scan;
        underWay++;
        timers.add(new Timer(a.started + timeout.toNanos(), g, a, null, null));
        try {
            if (ch.connect(UnixDomainSocketAddress.of(g.socket))) send(a);
            else ch.register(selector, SelectionKey.OP_CONNECT, a);
        } catch (IOException e) {
            failed(a, e);
        }
    }

    private void ready(SelectionKey k) {
        Attempt a = (Attempt) k.attachment();
        try {
            if (k.isValid() && k.isConnectable() && a.channel.finishConnect()) send(a);
            else if (k.isValid() && k.isWritable()) send(a);
            else if (k.isValid() && k.isReadable()) receive(a);
        } catch (IOException e) {
            failed(a, e);
        }
    }

    private void send(Attempt a) throws IOException {
        a.channel.write(a.out);
        a.channel.register(selector, a.out.hasRemaining() ? SelectionKey.OP_WRITE : SelectionKey.OP_READ, a);
    }

    private void receive(Attempt a) throws IOException {
        int n = a.channel.read(a.in);
        for (int i = 0; i < a.in.position(); i++) {
            if (a.in.get(i) != '\n') continue;
            String line = new String(a.in.array(), 0, i, StandardCharsets.US_ASCII);
            if ("ok".equals(line)) answered(a);
            else failed(a, new IOException(a.group.socket + " answered '" + line + "' instead of 'ok'"));
            return;
        }
        if (n < 0) failed(a, new IOException(a.group.socket + " closed the connection without answering 'ok'"));
        else if (!a.in.hasRemaining()) failed(a, new IOException(a.group.socket + " answered " + a.in.capacity()
            + " bytes without a line end"));
    }

    private void fire(Timer t) {
        if (t.attempt() == null) { // a retry, or a fresh publish owed to a consumer told of a backlog
            t.group().freshOwed = false;
            asked(t.stream(), t.group().name, t.reason());
        } else if (t.group().attempt == t.attempt()) {
            timedOut(t.attempt());
        }
    }

    /** The wake is over, whatever its outcome: its socket closed, its slot free, the debounce window opens. */
    private void end(Attempt a) {
        closeQuietly(a.channel);
        Group g = a.group;
        g.attempt = null;
        g.lastEnd = System.nanoTime();
        underWay--;
    }

    private void answered(Attempt a) {
        end(a);
        Group g = a.group;
        long now = System.nanoTime(), rtt = now - a.started, quiet = now - g.lastOk;
        g.lastOk = now;
        g.wakes++;
        g.lastWake = new Wake(System.currentTimeMillis(), a.reason, rtt / 1_000_000);
        wakesBy.get(a.reason).increment();
        wakeLatency.recordNanos(rtt);
        state(g, "ok", null);
        g.retry.reset();
        publish(g);
        // The first wake after a quiet spell is news; under steady traffic the rest go to debug.
        String line = String.format(Locale.ROOT, "woke %s for %s (%s) in %s", g.name, a.stream, a.reason,
            Durations.format(Duration.ofNanos(rtt)));
        if (g.wakes == 1 || quiet > QUIET.toNanos()) Log.info("%s", line);
        else Log.debug("%s", line);
    }

    private void timedOut(Attempt a) {
        end(a);
        error(a.group, "timeout", String.format("%s: no 'ok' within %s", a.group.socket, Durations.format(timeout)));
        publish(a.group);
    }

    private void failed(Attempt a, IOException e) {
        if (a.group.attempt != a) return; // already over
        end(a);
        failure(a.group, e, a.stream, a.reason);
    }

    private void failedToStart(Group g, IOException e) {
        g.lastEnd = System.nanoTime();
        failure(g, e, g.stream, g.reason);
    }

    private void failure(Group g, IOException e, String stream, Reason reason) {
        String why = Errors.oneLine(e);
        boolean refused = why.toLowerCase(Locale.ROOT).contains("refused");
        error(g, refused ? "refused" : "failed",
            String.format("%s: %s%s; trying again with backoff, then on each message and scan",
            g.socket, why, refused ? " (nothing listens there)" : ""));
        publish(g);
        // Scheduled only now, after lastEnd: a retry that lands inside the debounce window would be dropped.
        if (g.retry.failures() >= RETRIES) return; // the scans take over
        long ms = Math.max(g.retry.next().toMillis(), debounce.toMillis() + 1);
        timers.add(new Timer(System.nanoTime() + ms * 1_000_000, g, null, stream, reason));
    }

    private void skipped(Group g, SocketDir.Kind kind) {
        switch (kind) {
            case MISSING -> state(g, "no socket", null);
            case SYMLINK -> error(g, "symlink", g.socket + " is a symlink (to " + SocketDir.target(g.socket)
                + "), not a socket: refused, group "
                + g.name + " skipped; put the socket itself there");
            case NOT_A_SOCKET -> error(g, "not a socket", g.socket + " exists but is not a socket: group " + g.name
                + " skipped");
            default -> error(g, "unreadable", g.socket + ": cannot read what it is: group " + g.name + " skipped");
        }
    }

    /** A state that is an error: kept as the group's last error, logged when the state changes. */
    private void error(Group g, String next, String message) {
        wakeErrors.increment();
        g.lastError = new Failure(System.currentTimeMillis(), message);
        state(g, next, message);
    }

    /** Logs only a change of state: a scan every few seconds must not repeat the same warning. */
    private void state(Group g, String next, String warning) {
        String before = g.state;
        g.state = next;
        if (next.equals(before)) return;
        if (warning != null) Log.warn("%s", warning);
        else if ("no socket".equals(next) && before != null) Log.info("group %s: socket gone", g.name);
    }

    private void socketsListed(Set<String> names) {
        for (Group g : groups.values()) {
            if (names.contains(g.name) || g.state == null || g.attempt != null || g.queued) continue;
            if (!"no socket".equals(g.state)) {
                state(g, "no socket", null);
                publish(g);
            }
        }
    }

    private void publish(Group g) {
        published.put(g.name, new Status(g.name, g.stream, g.state, g.wakes, g.lastWake, g.lastError, g.queued
            || g.attempt != null));
    }

    private static void closeQuietly(java.io.Closeable c) {
        try {
            c.close();
        } catch (IOException e) {
            Log.debug("closing %s: %s", c, Errors.oneLine(e));
        }
    }

    /** A deadline of the attempt under way, or (attempt null) a retry of a failed wake. */
    private record Timer(long at, Group group, Attempt attempt, String stream, Reason reason) {}

    /** One wake on its way: the connection, the line still to send, what came back so far. */
    private static final class Attempt {
        final Group group;
        final String stream;
        final Reason reason;
        final SocketChannel channel;
        final long started = System.nanoTime();
        final ByteBuffer out, in = ByteBuffer.allocate(WakeSocket.MAX_LINE);

        Attempt(Group group, String stream, Reason reason, SocketChannel channel) {
            this.group = group;
            this.stream = stream;
            this.reason = reason;
            this.channel = channel;
            // A scan found messages waiting: the consumer may leave sooner once they are done (--backlog-linger).
            WakeSocket.Wake wake = new WakeSocket.Wake(stream, group.name, reason == Reason.scan);
            this.out = ByteBuffer.wrap((wake.line() + "\n").getBytes(StandardCharsets.US_ASCII));
        }
    }

    /** One group's wake state and history; the loop's alone. */
    private static final class Group {
        final String name;
        final Path socket;
        final Backoff retry = new Backoff(Duration.ofMillis(100), Duration.ofSeconds(2));
        boolean queued;
        boolean toldBacklog;  // the last wake sent said backlog
        boolean freshOwed;    // a fresh publish's wake waits for the debounce to pass
        Attempt attempt;
        String stream, state;
        Reason reason;
        long lastEnd, lastOk, wakes;
        Wake lastWake;
        Failure lastError;

        Group(String name, Path socket, Duration debounce) {
            this.name = name;
            this.socket = socket;
            this.lastEnd = System.nanoTime() - debounce.toNanos() - 1; // a first wake is never debounced
        }
    }
}
