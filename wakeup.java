///usr/bin/env jbang "$0" "$@" ; exit $?
//JAVA 17+
//SOURCES lib/*.java

import java.io.IOException;
import java.net.SocketTimeoutException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(name = "wakeup", mixinStandardHelpOptions = true, version = "mqueue 0.1", sortOptions = false,
    description = {
        "Wakes socket-activated consumer groups the moment nsqd holds messages for them. A group G is "
            + "socket-backed when <socket-dir>/G.sock exists and is a socket; waking it means connecting there "
            + "and sending 'wake <stream> G', so systemd starts G's consumer.",
        "",
        "Scan: at start and every --scan-interval, /stats of every nsqd; a socket-backed group with messages "
            + "waiting is woken. Push: on each nsqd and stream that already has a socket-backed group, its own "
            + "channel " + wakeup.OWN_CHANNEL + " gets a copy of each message, FINs it and wakes that stream's groups.",
        ""},
    footer = {"", "Examples:",
        "  wakeup.java --nsqd-http 127.0.0.1:4151 --socket-dir /run/mqueue",
        "  NSQLOOKUPD_HTTP_ADDRESS=127.0.0.1:4161 wakeup.java --scan-interval 2s"})
public class wakeup implements Callable<Integer> {
    /** Our copy of each stream: ephemeral, so it vanishes with us and never holds a backlog. */
    static final String OWN_CHANNEL = "mqueue-wakeup#ephemeral";

    enum Reason { scan, push }

    /**
     * A failed wake (refused, reset: e.g. the consumer was exiting and took its socket along) is
     * tried again this many times with backoff before the next scan's turn.
     */
    static final int RETRIES = 5;

    /** A wake this long after the group's previous one is logged at info; closer ones at debug. */
    static final Duration QUIET = Duration.ofSeconds(10);

    @Mixin ConnectionOptions.NsqdHttp nsqd;
    @Mixin ConnectionOptions.LookupdHttp lookupd;

    @Option(names = "--socket-dir", paramLabel = "DIR", defaultValue = "${env:MQUEUE_SOCKET_DIR:-/run/mqueue}",
        description = "Where group G's socket G.sock lives (env MQUEUE_SOCKET_DIR, default ${DEFAULT-VALUE}).")
    Path socketDir;

    @Option(names = "--scan-interval", paramLabel = "DURATION", defaultValue = "${env:MQUEUE_SCAN_INTERVAL:-5s}",
        description = "Time between two scans of nsqd's stats, the safety net under push (env MQUEUE_SCAN_INTERVAL, default ${DEFAULT-VALUE}).")
    Duration scanInterval;

    @Option(names = "--debounce", paramLabel = "DURATION", defaultValue = "${env:MQUEUE_DEBOUNCE:-200ms}",
        description = "At most one wake per group in this time, so a burst is one wake (env MQUEUE_DEBOUNCE, default ${DEFAULT-VALUE}).")
    Duration debounce;

    @Option(names = "--wake-timeout", paramLabel = "DURATION", defaultValue = "${env:MQUEUE_WAKE_TIMEOUT:-15s}",
        description = "How long a wake may wait for 'ok': covers a consumer's cold start (env MQUEUE_WAKE_TIMEOUT, default ${DEFAULT-VALUE}).")
    Duration wakeTimeout;

    @Mixin ConnectionOptions.Verbosity verbosity;

    private final Map<HostPort, Node> nodes = new ConcurrentHashMap<>();
    private final Map<String, Group> groups = new ConcurrentHashMap<>();
    private final Map<HostPort, String> lookupdStates = new ConcurrentHashMap<>();
    private final AtomicLong scans = new AtomicLong();
    private final CountDownLatch firstScan = new CountDownLatch(1);
    private final Semaphore kick = new Semaphore(0);
    private volatile Map<String, List<String>> socketGroups = Map.of(); // stream -> its socket-backed groups
    private volatile boolean stopping;
    private ExecutorService wakers, io;
    private java.util.concurrent.ScheduledExecutorService retries;
    private Thread loop;
    private Push push;
    private SdNotify sd = SdNotify.fromEnv(Map.of(), 0);

    public static void main(String... args) { System.exit(Cli.run(new wakeup(), args)); }

    @Override
    public Integer call() throws Exception {
        Log.init("wakeup", verbosity.verbose);
        sd = SdNotify.fromEnv(System.getenv(), ProcessHandle.current().pid());
        CountDownLatch signalled = new CountDownLatch(1);
        for (String sig : List.of("TERM", "INT")) sun.misc.Signal.handle(new sun.misc.Signal(sig), s -> signalled.countDown());
        start();
        signalled.await();
        Log.info("stopping");
        stop();
        return Cli.OK;
    }

    /** Starts the scan loop (first scan at once) and push; returns without waiting for the first scan. */
    synchronized void start() {
        Cli.require(scanInterval.toMillis() >= 10, "--scan-interval %s: must be at least 10ms", Cli.format(scanInterval));
        Cli.require(!debounce.isNegative(), "--debounce %s: must not be negative", debounce);
        Cli.require(wakeTimeout.toMillis() >= 1, "--wake-timeout %s: must be at least 1ms", Cli.format(wakeTimeout));
        if (!Files.isDirectory(socketDir)) Log.warn("socket dir %s does not exist (yet): no group is socket-backed", socketDir);
        Log.info("watching %s for groups with a socket in %s (scan every %s, debounce %s)",
            lookupd.enabled() ? "nsqlookupd " + lookupd.lookupd : "nsqd " + nsqd.nsqdHttp, socketDir,
            Cli.format(scanInterval), Cli.format(debounce));
        stopping = false;
        wakers = Executors.newCachedThreadPool(daemon("wakeup-wake"));
        retries = Executors.newSingleThreadScheduledExecutor(daemon("wakeup-retry"));
        io = Executors.newCachedThreadPool(daemon("wakeup-stats"));
        push = new Push(this::onPush);
        loop = daemon("wakeup-scan").newThread(this::runLoop);
        loop.start();
    }

    /** Stops scanning, closes the subscriptions, waits briefly for wakes under way. */
    void stop() throws InterruptedException {
        Thread l;
        synchronized (this) {
            if (loop == null) return;
            stopping = true;
            kick.release();
            l = loop;
            loop = null;
        }
        l.join(10_000);
        push.close();
        retries.shutdownNow();
        wakers.shutdown();
        io.shutdownNow();
        wakers.awaitTermination(wakeTimeout.toMillis() + 1_000, TimeUnit.MILLISECONDS);
    }

    boolean awaitFirstScan(Duration timeout) throws InterruptedException { return firstScan.await(timeout.toMillis(), TimeUnit.MILLISECONDS); }
    long scans() { return scans.get(); }
    /** Successful wakes (the consumer answered ok) of {@code group} so far. */
    long wakes(String group) { Group g = groups.get(group); return g == null ? 0 : g.wakes.get(); }
    /** Why the last attempt to wake {@code group} did or did not reach it: "ok", "no socket", "not a socket", ... */
    String state(String group) { Group g = groups.get(group); return g == null ? null : g.state; }
    int subscriptions() { return push == null ? 0 : push.size(); }

    private void runLoop() {
        long nextWatchdog = 0;
        while (!stopping) {
            try {
                scanOnce();
            } catch (RuntimeException e) {
                Log.error("scan failed: %s", Cli.describe(e));
            }
            if (firstScan.getCount() > 0) {
                firstScan.countDown();
                notifySystemd("READY=1");
            }
            Duration watchdog = sd.watchdogInterval();
            if (watchdog != null && System.nanoTime() - nextWatchdog >= 0) {
                notifySystemd("WATCHDOG=1");
                nextWatchdog = System.nanoTime() + watchdog.toNanos();
            }
            // Sleep a scan interval, shorter while an nsqd is down (its backoff) or the watchdog is due.
            long sleep = scanInterval.toNanos();
            for (Node n : nodes.values()) if (n.down) sleep = Math.min(sleep, n.retryAt - System.nanoTime());
            if (watchdog != null) sleep = Math.min(sleep, nextWatchdog - System.nanoTime());
            try {
                if (kick.tryAcquire(Math.max(sleep, 1_000_000), TimeUnit.NANOSECONDS)) kick.drainPermits();
            } catch (InterruptedException e) {
                return;
            }
        }
    }

    /**
     * One pass: the stats of every nsqd that is due, summed per (stream, group); every
     * socket-backed group with messages waiting is woken, and push follows the streams found.
     * Deferred and in-flight messages need no wake of their own: when they come due (or time out)
     * nsqd puts them back into depth, which the next scan sees.
     */
    synchronized void scanOnce() {
        refreshNodes();
        Map<Node, CompletableFuture<NsqHttp.Stats>> answers = new HashMap<>();
        long now = System.nanoTime();
        for (Node n : nodes.values()) if (!n.down || now - n.retryAt >= 0) answers.put(n, CompletableFuture.supplyAsync(n::stats, io));
        Map<String, Map<String, Long>> depth = new TreeMap<>();  // stream -> group -> messages waiting
        Set<Push.Key> withGroups = new HashSet<>();             // (nsqd, stream) that have a group there
        answers.forEach((node, answer) -> {
            NsqHttp.Stats stats = answer.join();
            if (stats == null || stats.topics() == null) return;
            for (NsqHttp.TopicStats t : stats.topics()) {
                for (NsqHttp.ChannelStats c : t.channels() == null ? List.<NsqHttp.ChannelStats>of() : t.channels()) {
                    String group = c.channelName();
                    if (Names.isEphemeral(group) || group.equals(OWN_CHANNEL)) continue;
                    if (node.tcp != null) withGroups.add(new Push.Key(node.tcp, t.topicName()));
                    if (c.paused()) continue;
                    depth.computeIfAbsent(t.topicName(), k -> new TreeMap<>()).merge(group, c.depth(), Long::sum);
                }
            }
        });
        Map<String, List<String>> backed = new HashMap<>();
        depth.forEach((stream, byGroup) -> byGroup.forEach((group, waiting) -> {
            if (!group(group).hasSocket(socketDir)) return;
            backed.computeIfAbsent(stream, k -> new java.util.ArrayList<>()).add(group);
            if (waiting > 0) {
                Log.debug("%s/%s: %d waiting", stream, group, waiting);
                requestWake(stream, group, Reason.scan);
            }
        }));
        socketGroups = backed;
        // Only streams that already have a group on that nsqd: our SUB must never be a topic's first channel.
        withGroups.removeIf(k -> !backed.containsKey(k.stream()));
        push.follow(withGroups);
        scans.incrementAndGet();
    }

    private void onPush(String stream) {
        for (String group : socketGroups.getOrDefault(stream, List.of())) requestWake(stream, group, Reason.push);
    }

    /** Wakes {@code group} unless a wake is under way or finished less than --debounce ago. */
    void requestWake(String stream, String group, Reason reason) {
        Group g = group(group);
        synchronized (g) {
            if (g.busy || System.nanoTime() - g.lastEnd < debounce.toNanos()) {
                g.coalesced++;
                return;
            }
            g.busy = true;
        }
        try {
            wakers.execute(() -> wake(g, stream, reason));
        } catch (RejectedExecutionException stopped) {
            synchronized (g) { g.busy = false; }
        }
    }

    private void wake(Group g, String stream, Reason reason) {
        try {
            if (!g.hasSocket(socketDir)) return;
            Duration rtt = WakeSocket.wake(g.socket(socketDir), new WakeSocket.Wake(stream, g.name), wakeTimeout);
            long now = System.nanoTime(), quiet = now - g.lastOk;
            g.lastOk = now;
            g.wakes.incrementAndGet();
            g.state("ok", null);
            g.retry.reset();
            // The first wake after a quiet spell is news; under steady traffic the rest go to debug.
            if (g.wakes.get() == 1 || quiet > QUIET.toNanos()) Log.info("woke %s for %s (%s) in %s", g.name, stream, reason, Cli.format(rtt));
            else Log.debug("woke %s for %s (%s) in %s", g.name, stream, reason, Cli.format(rtt));
        } catch (SocketTimeoutException e) {
            g.state("timeout", String.format("%s: no 'ok' within %s", g.socket(socketDir), Cli.format(wakeTimeout)));
        } catch (IOException e) {
            String why = Cli.describe(e);
            boolean refused = why.toLowerCase(java.util.Locale.ROOT).contains("refused");
            g.state(refused ? "refused" : "failed", String.format("%s: %s%s; trying again with backoff, then on each message and scan",
                g.socket(socketDir), why, refused ? " (nothing listens there)" : ""));
            retryLater(g, stream, reason);
        } finally {
            synchronized (g) {
                g.busy = false;
                g.lastEnd = System.nanoTime();
            }
        }
    }

    private void retryLater(Group g, String stream, Reason reason) {
        if (g.retry.failures() >= RETRIES) return; // the scans take over
        try {
            long ms = Math.max(g.retry.next().toMillis(), debounce.toMillis() + 1); // past the debounce window
            retries.schedule(() -> requestWake(stream, g.name, reason), ms, TimeUnit.MILLISECONDS);
        } catch (RejectedExecutionException stopped) {
            Log.debug("not retrying %s: stopping", g.name);
        }
    }

    private Group group(String name) { return groups.computeIfAbsent(name, n -> new Group(n, debounce)); }

    /** The nsqd nodes: the --nsqd-http list, or every node nsqlookupd knows right now. */
    private void refreshNodes() {
        if (!lookupd.enabled()) {
            for (HostPort http : nsqd.nsqdHttp) nodes.computeIfAbsent(http, h -> new Node(h, null));
            return;
        }
        Map<HostPort, HostPort> seen = new HashMap<>();
        boolean answered = false;
        for (HostPort l : lookupd.lookupd) {
            try {
                for (NsqHttp.Producer p : new NsqHttp(l, Duration.ofSeconds(3)).nodes()) seen.put(p.http(), p.tcp());
                answered = true;
                String before = lookupdStates.put(l, "ok");
                if (before != null && !before.equals("ok")) Log.info("nsqlookupd %s answers again", l);
            } catch (IOException e) {
                if (!Cli.describe(e).equals(lookupdStates.put(l, Cli.describe(e)))) Log.warn("nsqlookupd %s: %s", l, Cli.describe(e));
            }
        }
        if (!answered) return; // keep the nodes we knew
        seen.forEach((http, tcp) -> nodes.computeIfAbsent(http, h -> {
            Log.info("nsqd %s (tcp %s) joined", h, tcp);
            return new Node(h, tcp);
        }));
        nodes.keySet().removeIf(h -> {
            if (seen.containsKey(h)) return false;
            Log.info("nsqd %s left nsqlookupd", h);
            return true;
        });
    }

    private void notifySystemd(String state) {
        try {
            sd.send(state);
        } catch (IOException e) {
            Log.warn("sd_notify %s to %s failed: %s", state, System.getenv("NOTIFY_SOCKET"), Cli.describe(e));
        }
    }

    private static java.util.concurrent.ThreadFactory daemon(String name) {
        return r -> {
            Thread t = new Thread(r, name);
            t.setDaemon(true);
            return t;
        };
    }

    /** One nsqd: its stats, and a backoff while it does not answer. */
    static final class Node {
        final HostPort http;
        final NsqHttp client;
        final Backoff backoff = new Backoff(Duration.ofMillis(250), Duration.ofSeconds(5));
        volatile HostPort tcp;
        volatile boolean down;
        volatile long retryAt;

        Node(HostPort http, HostPort tcp) {
            this.http = http;
            this.client = new NsqHttp(http, Duration.ofSeconds(3));
            this.tcp = tcp;
        }

        /** The stats, or null (logged once per outage) while it does not answer. */
        NsqHttp.Stats stats() {
            try {
                NsqHttp.Stats s = client.stats();
                // Direct mode: the address we reach its HTTP on, with the TCP port it reports.
                if (tcp == null) tcp = new HostPort(http.host(), client.info().tcpPort());
                if (down) Log.info("nsqd %s answers again", http);
                down = false;
                backoff.reset();
                return s;
            } catch (IOException e) {
                Duration wait = backoff.next();
                if (!down) Log.warn("nsqd %s: %s; retrying with backoff, serving the other nodes", http, Cli.describe(e));
                else Log.debug("nsqd %s still down (%d failures): %s", http, backoff.failures(), Cli.describe(e));
                down = true;
                retryAt = System.nanoTime() + wait.toNanos();
                return null;
            }
        }
    }

    /** One group's socket and wake history; the socket and wake states are logged once per change. */
    static final class Group {
        final String name;
        final AtomicLong wakes = new AtomicLong();
        boolean busy;
        long lastEnd;
        long coalesced;
        long lastOk;
        final Backoff retry = new Backoff(Duration.ofMillis(100), Duration.ofSeconds(2));
        volatile String state;

        Group(String name, Duration debounce) {
            this.name = name;
            this.lastEnd = System.nanoTime() - debounce.toNanos() - 1;
        }

        Path socket(Path dir) { return dir.resolve(name + ".sock"); }

        /** True when G.sock exists and is a socket; a regular file or a directory there is skipped with a log. */
        boolean hasSocket(Path dir) {
            Path p = socket(dir);
            try {
                int mode = (Integer) Files.getAttribute(p, "unix:mode");
                if ((mode & 0170000) == 0140000) return true;
                state("not a socket", p + " exists but is not a socket: group " + name + " skipped");
            } catch (NoSuchFileException e) {
                state("no socket", null);
            } catch (IOException | UnsupportedOperationException e) {
                state("unreadable", p + ": " + Cli.describe(e));
            }
            return false;
        }

        synchronized void state(String next, String warning) {
            String before = state;
            state = next;
            if (next.equals(before)) return;
            if (warning != null) Log.warn("%s", warning);
            else if ("no socket".equals(next)) {
                if (before == null) Log.debug("group %s has no socket: ignored", name);
                else Log.info("group %s: socket gone", name);
            }
        }
    }

    /**
     * Push: one subscriber per (nsqd, stream) on our ephemeral channel, only where that nsqd
     * already has a group for the stream; each message is FINed at once and wakes the stream's groups.
     * A node that stops answering loses its subscriptions until a scan sees it again, so a
     * reconnect never lands on a fresh nsqd whose topic would get our channel as its first.
     */
    static final class Push {
        record Key(HostPort tcp, String stream) {}
        private final Map<Key, NsqSubscriber> subs = new ConcurrentHashMap<>();
        private final java.util.function.Consumer<String> onMessage;
        private boolean closed;

        Push(java.util.function.Consumer<String> onMessage) { this.onMessage = onMessage; }

        int size() { return subs.size(); }

        synchronized void follow(Set<Key> wanted) {
            if (closed) return; // a scan that outlived stop()
            subs.entrySet().removeIf(e -> {
                if (wanted.contains(e.getKey())) return false;
                Log.info("push: leaving %s on %s", e.getKey().stream(), e.getKey().tcp());
                e.getValue().close();
                return true;
            });
            for (Key k : wanted) {
                subs.computeIfAbsent(k, key -> {
                    NsqSubscriber s = new NsqSubscriber(key.stream(), OWN_CHANNEL, 50, m -> {
                        m.finish();
                        onMessage.accept(key.stream());
                    }).connectTo(List.of(key.tcp()));
                    s.start();
                    Log.info("push: following %s on %s", key.stream(), key.tcp());
                    return s;
                });
            }
        }

        synchronized void close() {
            closed = true;
            subs.values().forEach(NsqSubscriber::close);
            subs.clear();
        }
    }
}
