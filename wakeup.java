///usr/bin/env jbang "$0" "$@" ; exit $?
//JAVA 17+
// Idle at scale (1,000 groups, 200 push connections: bench/RESULTS.md): C2 kept compiling the 5 s scan for minutes
// (~3 % of a core), and G1 grew the heap to ~120 MB around a live set of 15-40 MB. C1 only, a serial collector
// in a small heap, and no 64 KiB direct read buffer cached per push thread. bin/mqueue passes //JVM_OPTIONS.
// Issue 24 (bench wakeup, idle RSS at 1,000 groups, same package): a 4 MB young generation and a heap kept within
// 10-20 % free of its live set (~10 MB) 76 -> 73 MB; glibc's freed memory handed back every 5 s -> 67 MB. Neither
// the AOT cache (68 MB without) nor CDS (-Xshare:off 67 MB) is what remains: the heap is 17 MB committed, libjvm's
// text ~15 MB, C1's code 4 MB (compiling less, -XX:CompileThresholdScaling=4: 66 MB at 0.58 % of a core).
//JVM_OPTIONS -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xms8m -Xmx48m -Xmn4m -XX:MinHeapFreeRatio=10
//JVM_OPTIONS -XX:MaxHeapFreeRatio=20 -Djdk.nio.maxCachedBufferSize=4096
// scripts/package keeps it only where the packaged JDK accepts it (17.0.9 and later).
//JVM_OPTIONS_IF_ACCEPTED -XX:TrimNativeHeapInterval=5000
//DEPS info.picocli:picocli:4.7.7
//DEPS com.fasterxml.jackson.core:jackson-databind:2.18.2
//DEPS io.airlift:aircompressor:2.0.3
//DEPS com.kohlschutter.junixsocket:junixsocket-common:2.10.1
//DEPS com.kohlschutter.junixsocket:junixsocket-native-common:2.10.1
//SOURCES lib/util/*.java
//SOURCES lib/nsq/*.java lib/nsq/http/*.java lib/nsq/subscribe/*.java
//SOURCES lib/cli/*.java
//SOURCES lib/activation/*.java
//SOURCES lib/wake/*.java

import activation.DeferredWake;
import activation.WakeSocket;
import cli.Cli;
import cli.ConnectionOptions;
import cli.Converters;
import cli.DeclaredOptions;
import cli.DrainOnSignal;
import cli.Log;
import cli.StatsdOptions;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Semaphore;
import java.util.concurrent.SynchronousQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import nsq.NsqConfig;
import nsq.NsqException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import util.Durations;
import util.Errors;
import util.HostName;
import util.Statsd;
import util.Threads;
import wake.Backlog;
import wake.ChannellessSockets;
import wake.GroupWaker;
import wake.NsqdNodes;
import wake.PushFollower;
import wake.SdNotify;
import wake.StatusReport;
import wake.StatusServer;

@Command(name = "wakeup", mixinStandardHelpOptions = true, version = "mqueue 0.1", sortOptions = false,
    subcommands = wakeup.Status.class,
    description = {
        "Wakes socket-activated consumer groups the moment nsqd holds messages for them. A group G is "
            + "socket-backed when <socket-dir>/G.sock exists and is a socket; waking it means connecting there "
            + "and sending 'wake <stream> G', so systemd starts G's consumer.",
        "",
        "Scan: at start and every --scan-interval, /stats of every nsqd; a socket-backed group with messages "
            + "waiting is woken. Push: on each nsqd and stream that already has a socket-backed group, its own "
            + "channel mqueue-wakeup-<host>#ephemeral gets a copy of each message, FINs it and wakes that stream's "
            + "groups.",
        "",
        "Deferred: a socket-activated consumer that requeues a message with a delay it may not outlive leaves a note "
            + "in nsqd (DPUB to " + DeferredWake.TOPIC
            + ") that comes due shortly before the message; the wakeup receives it and wakes the group.",
        ""},
    footer = {"", "Examples:",
        "  wakeup.java --nsqd-http 127.0.0.1:4151 --socket-dir /run/mqueue",
        "  NSQLOOKUPD_HTTP_ADDRESS=127.0.0.1:4161 wakeup.java --scan-interval 2s",
        "  wakeup.java status          # every group behind a socket: its messages, consumer, last wake"})
/*
 * Threads (at most threadBound(subscriptions)): the scan loop owns the nodes, the socket listing, what push
 * and the notes follow, and the stream -> groups map it publishes for the push readers; the wake loop
 * (GroupWaker) owns every wake; each push reader hands requests to the wake loop; the status server reads
 * only what the two loops published.
 */
public class wakeup implements Callable<Integer>, DeclaredOptions {
    /** Our copy of each stream: ephemeral, so it vanishes with us and never holds a backlog; one per host. */
    static final String OWN_CHANNEL = PushFollower.ownChannel(HostName.get());
    /**
     * --max-wakes' default: wakes under way at once, the rest waiting their turn. Each is an open socket and, under
     * systemd, a consumer starting: a JVM start is ~0.25 s of a core, so a hundred groups woken at once on 2 cores
     * were a hundred JVMs fighting for them (bench herd: 100 x 200 messages, 94 JVMs and 5.4 GB at once, issue 24).
     * Two per core keeps the cores busy while one start waits on I/O. Threads do not grow with it: every wake is
     * on the one wake loop (GroupWaker).
     */
    static int defaultMaxWakes() { return 2 * Runtime.getRuntime().availableProcessors(); }
    static final int MAX_WAKES_LIMIT = 1000;
    /** Threads that read nsqd's /stats at once; more nodes wait their turn within a scan. */
    static final int STATS_THREADS = 4;

    /**
     * The most threads a wakeup runs, whatever the number of groups and of wakes under way: a fixed set
     * (the JVM's own, main, the scan loop, the wake loop, the status server, up to STATS_THREADS reading
     * /stats, the HTTP client's, the NSQ client's timer: 24 measured on JDK 25 with C1, ~30 on JDK 17 with
     * C2 and G1) plus one reader per push subscription: each nsqd and stream with a socket-backed group,
     * and each nsqd's deferred-wake notes.
     */
    static int threadBound(int pushSubscriptions) { return 40 + pushSubscriptions; }

    @Option(names = "--socket-dir", paramLabel = "DIR", defaultValue = "${env:MQUEUE_SOCKET_DIR:-/run/mqueue}",
        description = "Where group G's socket G.sock lives (env MQUEUE_SOCKET_DIR, default ${DEFAULT-VALUE}).")
    Path socketDir;

    @Option(names = "--scan-interval", paramLabel = "DURATION", defaultValue = "${env:MQUEUE_SCAN_INTERVAL:-5s}",
        description = "Time between two scans of nsqd's stats, the safety net under push (env MQUEUE_SCAN_INTERVAL, "
            + "default ${DEFAULT-VALUE}).")
    Duration scanInterval;

    @Option(names = "--debounce", paramLabel = "DURATION", defaultValue = "${env:MQUEUE_DEBOUNCE:-200ms}",
        description = "At most one wake per group in this time, so a burst is one wake (env MQUEUE_DEBOUNCE, default "
            + "${DEFAULT-VALUE}).")
    Duration debounce;

    @Option(names = "--wake-timeout", paramLabel = "DURATION", defaultValue = "${env:MQUEUE_WAKE_TIMEOUT:-15s}",
        description = "How long a wake may wait for 'ok': covers a consumer's cold start (env MQUEUE_WAKE_TIMEOUT, "
            + "default ${DEFAULT-VALUE}).")
    Duration wakeTimeout;

    @Option(names = "--max-wakes", paramLabel = "N", defaultValue = "${env:MQUEUE_MAX_WAKES}",
        description = "Wakes under way at once, each a consumer starting; the rest wait their turn, in order "
            + "(env MQUEUE_MAX_WAKES; default 2 per core).")
    Integer maxWakes;

    // The options every tool shares, declared in code (cli.DeclaredOptions), after this script's own.
    final ConnectionOptions.NsqdHttp nsqd = new ConnectionOptions.NsqdHttp();
    final ConnectionOptions.LookupdHttp lookupd = new ConnectionOptions.LookupdHttp();
    final ConnectionOptions.Client client = new ConnectionOptions.Client();
    final StatsdOptions statsdOptions = new StatsdOptions();
    final ConnectionOptions.Verbosity verbosity = new ConnectionOptions.Verbosity();

    @Override
    public void declare(CommandSpec spec) {
        DeclaredOptions.declareAll(spec, nsqd, lookupd, client, statsdOptions, verbosity);
    }

    private final AtomicLong scans = new AtomicLong();
    private final long startedAtMillis = System.currentTimeMillis();
    private volatile long lastScanAtMillis;
    private final CountDownLatch firstScan = new CountDownLatch(1);
    private final Semaphore kick = new Semaphore(0);
    private volatile Map<String, List<String>> socketGroups = Map.of(); // stream -> its socket-backed groups
    private volatile boolean stopping;
    private final AtomicBoolean notesRefused = new AtomicBoolean();
    private volatile NsqException failure; // what no retry can fix: exit 1
    private volatile GroupWaker waker;
    private NsqdNodes nodes;
    private Backlog lastBacklog; // the scan's (under this object's lock)
    private ChannellessSockets channelless;
    private PushFollower push, notes;
    private ExecutorService io;
    private StatusServer status;
    private Thread loop;
    private Statsd statsd = Statsd.off();
    private Statsd.Timer scanTime = statsd.timer("wakeup.scan_time");  // start() makes them anew, sent
    private LongAdder scanErrors = statsd.counter("wakeup.errors.scan");
    private SdNotify sd = SdNotify.fromEnv(Map.of(), 0);

    private final CountDownLatch stopRequested = new CountDownLatch(1);

    /** SIGTERM/SIGINT end call()'s wait; it stops the loops and exits 0. */
    public static void main(String... args) {
        wakeup w = new wakeup();
        DrainOnSignal.main(w, w.stopRequested::countDown, () -> Duration.ofSeconds(10), args);
    }

    @Override
    public Integer call() throws Exception {
        sd = SdNotify.fromEnv(System.getenv(), ProcessHandle.current().pid());
        start();
        stopRequested.await();
        if (failure == null) Log.info("stopping");
        stop();
        return failure == null ? Cli.OK : Cli.FAILURE;
    }

    /** Starts the scan loop (first scan at once) and push; returns without waiting for the first scan. */
    synchronized void start() {
        Log.init("wakeup", verbosity.verbose); // here, not in call(): tests start a wakeup in-process
        Converters.requireDuration("--scan-interval", scanInterval, Duration.ofMillis(10), Duration.ofHours(1), "");
        Converters.requireDuration("--debounce", debounce, Duration.ZERO, Duration.ofMinutes(1),
            "a longer one would leave a group that exited idle unwoken that long");
        Converters.requireDuration("--wake-timeout", wakeTimeout, Duration.ofMillis(1), Duration.ofMinutes(10),
            "a cold start takes seconds");
        int wakesAtOnce = maxWakes != null ? maxWakes : defaultMaxWakes();
        Converters.requireRange("--max-wakes", wakesAtOnce, 1, MAX_WAKES_LIMIT,
            "wakes under way at once, each a consumer starting");
        NsqConfig config = client.config(); // bad TLS or AUTH options: exit 2 before anything starts
        statsdOptions.check(); // an unknown statsd host: exit 2 before anything starts
        checkSocketDir();
        Log.info("watching %s for groups with a socket in %s (scan every %s, debounce %s, at most %d wakes at once)",
            lookupd.enabled() ? "nsqlookupd " + lookupd.lookupd : "nsqd " + nsqd.nsqdHttp, socketDir,
            Durations.format(scanInterval), Durations.format(debounce), wakesAtOnce);
        stopping = false;
        // A thread per node being read, up to STATS_THREADS; past that the scan thread reads the next node itself.
        io = new ThreadPoolExecutor(0, STATS_THREADS, 60, TimeUnit.SECONDS, new SynchronousQueue<>(),
            Threads.daemons("wakeup-stats"),
            new ThreadPoolExecutor.CallerRunsPolicy());
        statsd = statsdOptions.start();
        scanTime = statsd.timer("wakeup.scan_time");
        scanErrors = statsd.counter("wakeup.errors.scan");
        statsd.gauge("wakeup.groups", () -> socketGroups.values().stream().flatMap(List::stream).distinct().count());
        waker = new GroupWaker(socketDir, debounce, wakeTimeout, wakesAtOnce).metrics(statsd).start();
        status = new StatusServer(socketDir, this::live);
        nodes = new NsqdNodes(nsqd.nsqdHttp, lookupd.lookupd, config.tls());
        channelless = new ChannellessSockets(socketDir, lookupd.enabled() ? null : nsqd.nsqdHttp.get(0));
        push = new PushFollower(config, OWN_CHANNEL, (stream, body) -> onPush(stream), this::failed);
        notes = new PushFollower(config, OWN_CHANNEL, (topic, body) -> onNote(body), this::notesRefused);
        loop = Threads.start("wakeup-scan", this::runLoop);
    }

    /**
     * A regular file there is a typo (exit 2); a missing dir may come later (systemd creates it). A
     * dir any local user can write lets anyone plant G.sock and receive the wakes: said at start.
     */
    private void checkSocketDir() {
        if (Files.exists(socketDir) && !Files.isDirectory(socketDir)) {
            throw new Cli.UsageException("--socket-dir " + socketDir + ": exists and is not a directory");
        }
        if (!Files.isDirectory(socketDir)) {
            Log.warn("socket dir %s does not exist (yet): no group is socket-backed", socketDir);
            return;
        }
        try {
            if (Files.getPosixFilePermissions(socketDir).contains(PosixFilePermission.OTHERS_WRITE)) {
                Log.warn("socket dir %s is world-writable: any local user can put a G.sock there and be sent group G's "
                    + "wakes; make it writable only by its owner (0755, as systemd creates it for ListenStream=)",
                    socketDir);
            }
        } catch (IOException | UnsupportedOperationException e) {
            Log.warn("socket dir %s: cannot read its permissions: %s", socketDir, Errors.oneLine(e));
        }
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
        notes.close();
        status.close();
        waker.close();
        io.shutdownNow();
        statsd.close(); // the last flush, the loops stopped
    }

    /** What ended the run with exit 1 (a peer that is not nsqd, TLS or AUTH refused); null if nothing did. */
    NsqException failure() { return failure; }

    boolean awaitFirstScan(Duration timeout) throws InterruptedException { return firstScan.await(timeout.toMillis(),
        TimeUnit.MILLISECONDS); }
    long scans() { return scans.get(); }
    /** Successful wakes (the consumer answered ok) of {@code group} so far. */
    long wakes(String group) { GroupWaker w = waker; return w == null ? 0 : w.wakes(group); }
    /** Why the last attempt to wake {@code group} did or did not reach it: "ok", "no socket", "not a socket", ... */
    String state(String group) { GroupWaker w = waker; return w == null ? null : w.state(group); }
    GroupWaker waker() { return waker; }
    Path statusSocket() { return status.path(); }

    /** What `wakeup status` reads from us: immutable snapshots only. */
    private StatusReport.Live live() {
        return new StatusReport.Live(ProcessHandle.current().pid(), startedAtMillis, socketDir.toString(),
            scanInterval.toMillis(),
            scans.get(), lastScanAtMillis, push.size(), List.copyOf(waker.status()));
    }
    /** Push subscriptions: each followed (nsqd, stream); and the deferred-wake notes', one per nsqd. */
    int subscriptions() { return push == null ? 0 : push.size(); }
    int noteSubscriptions() { return notes == null ? 0 : notes.size(); }
    /** Groups whose socket has no channel on any stream, as of the last scan; and how many warnings said so. */
    Set<String> channelless() { return channelless.current(); }
    long channellessWarnings() { return channelless.warnings(); }

    private void runLoop() {
        long nextWatchdog = 0;
        while (!stopping) {
            try {
                scanOnce();
            } catch (RuntimeException e) {
                scanErrors.increment();
                Log.error("scan failed: %s", Errors.oneLine(e));
            }
            if (nodes.fatal() != null) {
                Log.error("%s", nodes.fatal().getMessage());
                failed(nodes.fatal());
                return;
            }
            if (waker.died() != null) { // logged by the loop; the unit restarts us
                failed(new NsqException("the wake loop stopped: " + Errors.oneLine(waker.died()), true, waker.died()));
                return;
            }
            status.bind(); // once the socket dir exists
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
            long sleep = nodes.untilNextRetry(scanInterval.toNanos());
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
     * A message deferred or in flight is seen here once it comes due (or times out) and is back in
     * depth; a consumer's note wakes its group sooner for one it requeued with a delay.
     */
    synchronized void scanOnce() {
        long start = System.nanoTime();
        List<Backlog.NodeStats> stats = nodes.stats(io);
        scanErrors.add(stats.stream().filter(s -> s.stats() == null).count()); // an nsqd that did not answer
        Backlog backlog = lastBacklog = Backlog.of(stats, lastBacklog); // unchanged answers: the same Backlog
        // one listing of the socket dir a scan; a socket itself is checked when woken
        Set<String> listing = waker.listing();
        Map<String, List<String>> backed = backlog.backed(listing::contains);
        List<Backlog.Waiting> waiting = backlog.waiting(backed);
        for (Backlog.Waiting w : waiting) {
            Log.debug("%s/%s: %d waiting", w.stream(), w.group(), w.messages());
            waker.request(w.stream(), w.group(), GroupWaker.Reason.scan);
        }
        socketGroups = backed;
        push.follow(backlog.toFollow(backed));
        // Where socket-activated consumers leave notes for messages they requeued with a delay (DeferredWake).
        notes.follow(backed.isEmpty() || notesRefused.get() ? Set.of()
            : backlog.nodes().stream().map(tcp -> new Backlog.Follow(tcp, DeferredWake.TOPIC))
            .collect(java.util.stream.Collectors.toSet()));
        channelless.check(backlog, listing);
        lastScanAtMillis = System.currentTimeMillis();
        scans.incrementAndGet();
        scanTime.recordNanos(System.nanoTime() - start);
        // The bench (bench/WakeupScale.java) reads this line's time.
        Log.debug("scan: %d node(s), %d socket-backed group(s), %d waiting, push on %d in %d ms", stats.size(),
            backed.values().stream().mapToInt(List::size).sum(), waiting.size(), push.size(), (System.nanoTime()
                - start) / 1_000_000);
    }

    /** A peer that is not nsqd, or an nsqd that refuses us: retrying cannot fix it, so the run ends with exit 1. */
    private void failed(NsqException e) {
        if (failure == null) failure = e;
        stopRequested.countDown();
    }

    /**
     * nsqd refused our subscription to the notes. Not allowed that topic (E_UNAUTHORIZED): wakes go on
     * without the notes, said once. Anything else (a wrong secret, TLS) refuses push too: the run ends.
     */
    private void notesRefused(NsqException e) {
        boolean topicOnly = false;
        for (Throwable c = e; c != null; c = c.getCause()) {
            if (c instanceof NsqException.ErrorResponse r && "E_UNAUTHORIZED".equals(r.code())) topicOnly = true;
        }
        if (!topicOnly) {
            failed(e);
            return;
        }
        if (notesRefused.getAndSet(true)) return;
        Log.warn("deferred-wake notes refused (%s): a message a consumer requeues with a delay is woken by a scan once "
            + "it is due; allow subscribing to %s to wake it on time", Errors.oneLine(e), DeferredWake.TOPIC);
    }

    private void onPush(String stream) {
        for (String group : socketGroups.getOrDefault(stream, List.of())) waker.request(stream, group,
            GroupWaker.Reason.push);
    }

    /**
     * A consumer's note: a message it requeued with a delay comes due now; woken when the group is socket-backed here.
     */
    private void onNote(byte[] body) {
        WakeSocket.Wake w = DeferredWake.parse(body);
        if (w != null && socketGroups.getOrDefault(w.stream(), List.of()).contains(w.group())) {
            waker.request(w.stream(), w.group(), GroupWaker.Reason.deferred);
        } else {
            Log.debug("deferred-wake note %s: no such socket-backed group here", w == null ? "(not a wake line)"
                : w.line());
        }
    }

    private void notifySystemd(String state) {
        try {
            sd.send(state);
        } catch (IOException e) {
            Log.warn("sd_notify %s to %s failed: %s", state, System.getenv("NOTIFY_SOCKET"), Errors.oneLine(e));
        }
    }

    /** `wakeup status`: one row per group behind a socket; works whether or not the wakeup runs, and says which. */
    @Command(name = "status", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"One row per group behind a socket in --socket-dir: its stream(s); its socket (listening, "
            + "refused: nothing listens, missing, symlink (refused), not a socket); whether a consumer reads it; depth,"
            + " in flight and deferred summed over nsqd nodes; and, from the running wakeup over its status socket "
            + "(<socket-dir>/wakeup/status.sock), the last wake (when, why: push, scan or deferred, its round trip), "
            + "wakes since it started, the last error. Exit 1 when no nsqd answered."},
        footer = {"", "Examples:", "  wakeup.java status --socket-dir /run/mqueue",
            "  wakeup.java status --json | jq '.groups[] | select(.depth > 0)'"})
    static final class Status implements Callable<Integer>, DeclaredOptions {
        final ConnectionOptions.NsqdHttp nsqd = new ConnectionOptions.NsqdHttp();
        final ConnectionOptions.LookupdHttp lookupd = new ConnectionOptions.LookupdHttp();
        final ConnectionOptions.Client client = new ConnectionOptions.Client();

        @Override
        public void declare(CommandSpec spec) { DeclaredOptions.declareAll(spec, nsqd, lookupd, client); }

        @Option(names = "--socket-dir", paramLabel = "DIR", defaultValue = "${env:MQUEUE_SOCKET_DIR:-/run/mqueue}",
            description = "Where group G's socket G.sock lives (env MQUEUE_SOCKET_DIR, default ${DEFAULT-VALUE}).")
        Path socketDir;

        @Option(names = "--json", description = "The same rows as JSON, for scripts.")
        boolean json;

        @Override
        public Integer call() throws IOException {
            Log.init("wakeup", false);
            Cli.require(!Files.exists(socketDir) || Files.isDirectory(socketDir),
                "--socket-dir %s: exists and is not a directory", socketDir);
            NsqConfig config = client.config();
            StatusReport.Report r = StatusReport.collect(socketDir, nsqd.nsqdHttp, lookupd.lookupd, config.tls());
            System.out.write(json ? StatusReport.json(r) : StatusReport.table(r, System.currentTimeMillis(),
                java.time.ZoneId.systemDefault())
                .getBytes(java.nio.charset.StandardCharsets.UTF_8));
            if (json) System.out.println();
            System.out.flush();
            return r.nsqd().stream().anyMatch(n -> n.error() == null) ? Cli.OK : Cli.FAILURE;
        }
    }
}
