import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import activation.WakeSocket;
import cli.Cli;
import java.net.DatagramPacket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentLinkedQueue;
import nsq.HostPort;
import nsq.http.NsqHttp;
import nsq.publish.Publisher;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.newsclub.net.unix.AFUNIXDatagramSocket;
import org.newsclub.net.unix.AFUNIXSocketAddress;
import wake.ChannellessSockets;
import wake.GroupWaker;
import wake.SdNotify;

/**
 * wakeup.java against real nsqd, in-process where it can be; a WakeSocket.Listener plays the
 * consumer's socket end. Two nsqd behind nsqlookupd for every test; most use the first directly.
 */
class WakeupTest {
    @RegisterExtension final NsqFixture nsq = new NsqFixture().withLookupd().nsqds(2);

    static final Duration WAIT = Duration.ofSeconds(30);
    private final List<wakeup> running = new ArrayList<>();
    private final List<WakeSocket.Listener> listeners = new ArrayList<>();
    private Path sockets;

    @BeforeEach void dirs() throws Exception {
        // Short path: unix socket paths are limited to 108 bytes.
        sockets = Files.createTempDirectory("mq-wake-");
    }

    @AfterEach void stopAll() throws Exception {
        for (wakeup w : running) w.stop();
        for (WakeSocket.Listener l : listeners) l.close();
        TestCerts.delete(sockets); // a killed wakeup leaves its status socket in wakeup/
    }

    /** A wakeup running in this JVM; stopped after the test. */
    wakeup startWakeup(String... args) {
        wakeup w = new wakeup();
        List<String> all = new ArrayList<>(List.of("--socket-dir", sockets.toString()));
        all.addAll(List.of(args));
        Cli.commandLine(w).parseArgs(all.toArray(String[]::new));
        w.start();
        running.add(w);
        return w;
    }

    WakeSocket.Listener listen(String group) throws Exception {
        WakeSocket.Listener l = WakeSocket.Listener.bind(sockets.resolve(group + ".sock"));
        l.start(wake -> {});
        listeners.add(l);
        return l;
    }

    static NsqHttp.ChannelStats nsqChannel(NsqHttp http, String stream, String channel) throws Exception {
        NsqHttp.TopicStats t = http.stats(stream, channel).topic(stream);
        return t == null ? null : t.channel(channel);
    }

    /** Push is live on that nsqd once our ephemeral channel has its client. */
    static void awaitPush(NsqHttp http, String stream) throws Exception {
        Await.until("wakeup's channel on " + stream + " at " + http.address(), WAIT, () -> {
            NsqHttp.ChannelStats c = nsqChannel(http, stream, wakeup.OWN_CHANNEL);
            return c != null && c.clientCount() == 1;
        });
    }

    /**
     * End to end with the real consumer behind systemd-socket-activate (in a loop, as
     * `make systemd-socket-activate-consumer` runs it): no consumer process until a message
     * comes; woken, it handles it and exits idle; the next message starts it again.
     */
    @Test void wokenConsumerHandlesItExitsIdleAndIsWokenAgain() throws Exception {
        nsq.prepare("e2e", "sa");
        Path sock = sockets.resolve("sa.sock"), exits = sockets.resolve("exits");
        String consumer = javaCommand("consumer", "--stream", "e2e", "--group", "sa", "--nsqd", nsq.tcp().toString(),
            "--timeout", "1s").stream().map(a -> "'" + a.replace("'", "'\\''")
                + "'").collect(java.util.stream.Collectors.joining(" "));
        Spawned sa = nsq.spawn(List.of("bash", "-c", "while :; do systemd-socket-activate -l " + sock + " " + consumer
            + "; echo $? >> " + exits + "; done"), Map.of());
        Await.until("systemd-socket-activate listens", WAIT, () -> Files.exists(sock));
        wakeup w = startWakeup("--nsqd-http", nsq.httpAddress().toString(), "--scan-interval", "1s");
        awaitPush(nsq.http(), "e2e");
        assertEquals(0, javaProcesses(sa), "no consumer before there is work");

        for (int round = 1; round <= 2; round++) {
            final int n = round;
            nsq.publish("e2e", 1);
            Await.until("message " + n + " handled by a woken consumer", WAIT, () -> sa.stdout().lines().count() == n);
            Await.until("consumer " + n + " exited when idle", WAIT, () -> Files.exists(exits)
                && Files.readAllLines(exits).size() == n);
            assertEquals("0", Files.readAllLines(exits).get(n - 1), "consumer " + n + " exit code");
            Await.until("no consumer process left", WAIT, () -> javaProcesses(sa) == 0);
        }
        assertTrue(w.wakes("sa") >= 2, "woken for each message: " + w.wakes("sa"));
        assertEquals(0, nsq.channel("e2e", "sa").depth());
    }

    /**
     * A message the consumer requeues with --backoff 8s after a failed command: the consumer exits idle
     * (3 s) while it waits, and no scan comes for 10 minutes; the note it left in nsqd wakes the group
     * shortly before the message comes due, and the message is handled within 1 s of coming due. The
     * consumer starts from a lead (three times its own start-up) before the due time, so how fast this
     * machine starts a JVM is not what the second is spent on.
     */
    @Test void aRequeuedMessageIsHandledWithinASecondOfComingDueWithNoConsumerWhileItWaits() throws Exception {
        nsq.prepare("later", "sa");
        Path sock = sockets.resolve("sa.sock"), exits = sockets.resolve("exits"), failed = sockets.resolve("failed"),
            handled = sockets.resolve("handled");
        String handler = "if [ \"$MQ_ATTEMPTS\" -ge 2 ]; then date +%s%N >> " + handled + "; else date +%s%N >> "
            + failed + "; exit 1; fi";
        String consumer = javaCommand("consumer", "--stream", "later", "--group", "sa", "--nsqd", nsq.tcp().toString(),
            "--timeout", "3s",
            "--exec", handler, "--backoff", "8s/8s").stream().map(a -> "'" + a.replace("'", "'\\''")
                + "'").collect(java.util.stream.Collectors.joining(" "));
        Spawned sa = nsq.spawn(List.of("bash", "-c", "while :; do systemd-socket-activate -l " + sock + " " + consumer
            + "; echo $? $(date +%s%N) >> " + exits + "; done"), Map.of());
        Await.until("systemd-socket-activate listens", WAIT, () -> Files.exists(sock));
        wakeup w = startWakeup("--nsqd-http", nsq.httpAddress().toString(), "--scan-interval", "10m");
        awaitPush(nsq.http(), "later");
        Await.until("the wakeup follows the notes", WAIT, () -> nsqChannel(nsq.http(), activation.DeferredWake.TOPIC,
            wakeup.OWN_CHANNEL) != null);

        nsq.publish("later", 1);
        Await.until("the first attempt failed", WAIT, () -> lines(failed) == 1);
        // the REQ follows the command's exit
        long due = Long.parseLong(Files.readAllLines(failed).get(0)) + Duration.ofSeconds(8).toNanos();
        Await.until("the consumer exited idle", WAIT, () -> lines(exits) == 1);
        String[] exit = Files.readAllLines(exits).get(0).split(" ");
        assertEquals("0", exit[0], "exit code");
        assertTrue(Long.parseLong(exit[1]) < due, "it exited before the message came due");
        Await.until("no consumer process while the message waits", WAIT, () -> javaProcesses(sa) == 0);
        assertEquals(1, nsq.channel("later", "sa").deferredCount(), "the message waits in nsqd");

        Await.until("the requeued message handled", Duration.ofSeconds(40), () -> lines(handled) == 1);
        long late = Long.parseLong(Files.readAllLines(handled).get(0)) - due;
        System.err.printf("requeued message handled %+d ms from its due time%n", late / 1_000_000);
        assertTrue(late < Duration.ofSeconds(1).toNanos(), "handled " + late / 1_000_000 + " ms after it came due");
        assertEquals(GroupWaker.Reason.deferred,
            w.waker().status().stream().filter(s -> s.group().equals("sa")).findFirst().orElseThrow()
            .lastWake().reason(), "woken by the note, not by push or a scan");
        assertEquals(1, w.scans(), "no scan since the first");
    }

    /** Complete lines in {@code file} (0 while it does not exist): a line is counted once its newline is written. */
    static long lines(Path file) throws java.io.IOException {
        return Files.exists(file) ? Files.readString(file).chars().filter(c -> c == '\n').count() : 0;
    }

    static long javaProcesses(Spawned p) {
        return p.process.descendants().filter(h -> h.info().command().map(c -> c.endsWith("/java")).orElse(false))
            .count();
    }

    @Test void backlogPresentAtStartIsWokenByTheFirstScan() throws Exception {
        nsq.prepare("backlog", "g");
        nsq.publish("backlog", 3);
        WakeSocket.Listener g = listen("g");
        wakeup w = startWakeup("--nsqd-http", nsq.httpAddress().toString(), "--scan-interval", "10m");
        Await.until("the first scan wakes g", WAIT, () -> g.wakes() == 1);
        assertTrue(w.awaitFirstScan(WAIT));
        Await.until("wakeup counted it", WAIT, () -> w.wakes("g") == 1);
        assertEquals("ok", w.state("g"));
    }

    @Test void aMessageWakesAtOnceAndABurstIsOneWake() throws Exception {
        nsq.prepare("push", "g");
        WakeSocket.Listener g = listen("g");
        // No scan after the first (depth 0 then): every wake here comes from push.
        wakeup w = startWakeup("--nsqd-http", nsq.httpAddress().toString(), "--scan-interval", "10m", "--debounce",
            "1s");
        awaitPush(nsq.http(), "push");
        assertEquals(0, g.wakes(), "nothing waiting yet");
        nsq.publish("push", 1);
        Await.until("the message wakes g", WAIT, () -> g.wakes() == 1);

        Await.until("the debounce window has passed", WAIT, () -> System.nanoTime()
            - g.lastWakeNanos() > Duration.ofMillis(1500).toNanos());
        nsq.publish("push", 50);
        Await.until("wakeup saw the whole burst", WAIT, () -> nsq.channel("push",
            wakeup.OWN_CHANNEL).messageCount() == 51
            && nsq.channel("push", wakeup.OWN_CHANNEL).inFlightCount() == 0);
        Await.until("the burst woke g", WAIT, () -> g.wakes() == 2);
        assertEquals(2, w.wakes("g"), "50 messages inside --debounce are one wake");
        assertEquals(51, nsq.channel("push", "g").depth(), "wakeup only reads its own copy");
    }

    @Test void socketlessGroupsAndRegularFilesAreSkipped() throws Exception {
        nsq.prepare("mixed", "g");
        nsq.http().createChannel("mixed", "nosock");
        nsq.http().createChannel("mixed", "file");
        Files.writeString(sockets.resolve("file.sock"), "not a socket");
        nsq.publish("mixed", 2);
        WakeSocket.Listener g = listen("g");
        wakeup w = startWakeup("--nsqd-http", nsq.httpAddress().toString(), "--scan-interval", "10m");
        Await.until("g is woken", WAIT, () -> g.wakes() == 1);
        assertEquals(0, w.wakes("nosock"));
        assertEquals("no socket", w.state("nosock"));
        assertEquals(0, w.wakes("file"));
        assertEquals("not a socket", w.state("file"));
        assertEquals("not a socket", Files.readString(sockets.resolve("file.sock")), "left alone");
    }

    @Test void refusedAndSilentSocketsAreRetriedUntilAConsumerAnswers() throws Exception {
        nsq.prepare("retry", "g");
        nsq.publish("retry", 1);
        Path path = sockets.resolve("g.sock");
        // A socket file nobody listens on: what systemd-socket-activate leaves between two runs.
        WakeSocket.Listener.bind(path).close();
        wakeup w = startWakeup("--nsqd-http", nsq.httpAddress().toString(), "--scan-interval", "100ms",
            "--debounce", "0ms", "--wake-timeout", "300ms");
        Await.until("the wake is refused", WAIT, () -> "refused".equals(w.state("g")));
        Files.delete(path);
        // Listening but never answering: the wake times out.
        try (var silent = org.newsclub.net.unix.AFUNIXServerSocket.bindOn(AFUNIXSocketAddress.of(path))) {
            Await.until("the wake times out", WAIT, () -> "timeout".equals(w.state("g")));
        }
        Files.deleteIfExists(path);
        assertEquals(0, w.wakes("g"));
        WakeSocket.Listener g = listen("g");
        Await.until("the next scan reaches the consumer", WAIT, () -> g.wakes() >= 1);
        Await.until("state ok", WAIT, () -> "ok".equals(w.state("g")));
    }

    @Test void aRefusedWakeIsRetriedWithoutWaitingForAScan() throws Exception {
        nsq.prepare("again", "g");
        Path path = sockets.resolve("g.sock");
        WakeSocket.Listener.bind(path).close(); // the socket a consumer took along when it exited
        wakeup w = startWakeup("--nsqd-http", nsq.httpAddress().toString(), "--scan-interval", "10m");
        awaitPush(nsq.http(), "again");
        nsq.publish("again", 1);
        Await.until("the push wake is refused", WAIT, () -> "refused".equals(w.state("g")));
        Files.delete(path);
        WakeSocket.Listener g = listen("g"); // systemd-socket-activate listens again
        Await.until("a retry reaches it (no scan for 10m, no new message)", WAIT, () -> g.wakes() == 1);
        assertEquals(1, w.scans());
    }

    @Test void neverCreatesTheFirstChannelOfAStream() throws Exception {
        nsq.http().createTopic("bare");
        nsq.publish("bare", 5);
        nsq.prepare("kept", "g");
        listen("g");
        listen("bare"); // a socket named like a group that does not exist yet changes nothing
        wakeup w = startWakeup("--nsqd-http", nsq.httpAddress().toString(), "--scan-interval", "100ms");
        awaitPush(nsq.http(), "kept");
        long scans = w.scans();
        Await.until("several more scans", WAIT, () -> w.scans() >= scans + 5);
        nsq.publish("bare", 5);
        w.scanOnce();
        NsqHttp.TopicStats bare = nsq.http().stats().topic("bare");
        assertTrue(bare.channels() == null || bare.channels().isEmpty(), "no channel on 'bare': " + bare.channels());
        assertEquals(10, bare.depth(), "the backlog waits for the first real group");
        assertEquals(1, w.subscriptions(), "push follows only 'kept'");
    }

    @Test void recoversFromAnNsqdRestart() throws Exception {
        nsq.prepare("restart", "g");
        WakeSocket.Listener g = listen("g");
        wakeup w = startWakeup("--nsqd-http", nsq.httpAddress().toString(), "--scan-interval", "500ms", "--debounce",
            "0ms");
        awaitPush(nsq.http(), "restart");
        nsq.nsqd().restart();
        // While it is down and right after, scans fail and back off; push reconnects once a scan sees it again.
        awaitPush(nsq.http(), "restart");
        long before = g.wakes();
        nsq.publish("restart", 1);
        Await.until("a message after the restart wakes g", WAIT, () -> g.wakes() > before);
        assertEquals(1, w.subscriptions());
    }

    @Test void nsqdDownAtStartDoesNotStopTheOthers() throws Exception {
        HostPort dead = new HostPort("127.0.0.1", NsqFixture.freePort());
        nsq.prepare("others", "g");
        nsq.publish("others", 1);
        WakeSocket.Listener g = listen("g");
        wakeup w = startWakeup("--nsqd-http", dead + "," + nsq.httpAddress(), "--scan-interval", "10m");
        Await.until("the live node's backlog wakes g", WAIT, () -> g.wakes() == 1);
        assertTrue(w.awaitFirstScan(WAIT));
    }

    @Test void twoNsqdBehindLookupdEitherWakes() throws Exception {
        for (int i = 0; i < 2; i++) nsq.nsqd(i).prepare("both", "g");
        WakeSocket.Listener g = listen("g");
        wakeup w = startWakeup("--lookupd", nsq.lookupd().httpAddress().toString(), "--scan-interval", "10m",
            "--debounce", "0ms");
        // lookupd learns of the nodes asynchronously: scan until both are followed.
        Await.until("push on both nodes", WAIT, () -> {
            w.scanOnce();
            return w.subscriptions() == 2;
        });
        for (int i = 0; i < 2; i++) awaitPush(nsq.nsqd(i).http(), "both");
        assertTrue(w.awaitFirstScan(WAIT), "the loop's own first scan is over: no scan after the publish wakes g too");
        nsq.nsqd(1).publish("both", 1);
        Await.until("a message on nsqd1 wakes g", WAIT, () -> g.wakes() == 1);
        // A push that lands while the first wake is still being answered joins it (GroupWaker: one wake at a
        // time per group; the consumer it starts reads that message too), so publish until one lands after.
        Await.until("a message on nsqd0 wakes g", WAIT, () -> {
            if (g.wakes() < 2) nsq.nsqd(0).publish("both", 1);
            return g.wakes() >= 2;
        });
    }

    /**
     * A socket whose group has no channel on any stream can never be woken (what
     * `make systemd-socket-activate-consumer` once left behind): logged once, with commands that
     * fix it; run as printed (STREAM filled in), they do, and the group is woken.
     */
    @Test void aSocketWithoutAChannelIsLoggedOnceWithTheCommandsThatFixIt() throws Exception {
        nsq.prepare("known", "g");
        WakeSocket.Listener lonely = listen("lonely");
        wakeup w = startWakeup("--nsqd-http", nsq.httpAddress().toString(), "--scan-interval", "100ms", "--debounce",
            "0ms");
        Await.until("a scan flags lonely", WAIT, () -> w.channelless().contains("lonely"));
        long scans = w.scans();
        Await.until("five more scans", WAIT, () -> w.scans() >= scans + 5);
        assertEquals(1, w.channellessWarnings(), "logged once, not on every scan");
        assertEquals(java.util.Set.of("lonely"), w.channelless(), "g has its channel");

        String warning = ChannellessSockets.warning(sockets.resolve("lonely.sock"), "lonely", nsq.httpAddress());
        String fix = warning.substring(warning.indexOf("create it: ") + "create it: ".length()).replace("STREAM",
            "known");
        Spawned curl = nsq.spawn(List.of("bash", "-c", fix), Map.of());
        assertEquals(0, curl.waitFor(WAIT), fix + ":\n" + curl.stderr());
        nsq.publish("known", 1);
        Await.until("lonely is woken once it has its channel", WAIT, () -> lonely.wakes() >= 1);
        Await.until("no longer flagged", WAIT, () -> w.channelless().isEmpty());
        assertEquals(1, w.channellessWarnings());
    }

    @Test void killedAndRestartedWakeupStillWakesPendingWork() throws Exception {
        nsq.prepare("pending", "g");
        WakeSocket.Listener g = listen("g");
        List<String> cmd = javaWakeup("--nsqd-http", nsq.httpAddress().toString(), "--scan-interval", "10m");
        Spawned first = nsq.spawn(cmd, Map.of());
        awaitPush(nsq.http(), "pending");
        first.signal("KILL");
        first.waitFor(WAIT);
        Await.until("nsqd dropped the dead wakeup's ephemeral channel", WAIT,
            () -> nsq.channel("pending", wakeup.OWN_CHANNEL) == null);
        nsq.publish("pending", 3);
        assertEquals(0, g.wakes(), "nobody to wake g while the wakeup is dead");
        Spawned second = nsq.spawn(cmd, Map.of());
        Await.until("the restarted wakeup wakes g", WAIT, () -> g.wakes() == 1);
        Await.until("the wake logged with its reason and round trip", WAIT,
            () -> second.stderr().matches("(?s).*woke g for pending \\(scan\\) in \\d+(ms|\\.\\ds|s).*"));
    }

    @Test void asAProcessNotifiesSystemdLogsSkipsAndStopsCleanly() throws Exception {
        nsq.prepare("proc", "g");
        nsq.http().createChannel("proc", "file");
        Files.writeString(sockets.resolve("file.sock"), "x");
        listen("lonely"); // no channel anywhere
        nsq.publish("proc", 1);
        Path notify = sockets.resolve("notify");
        ConcurrentLinkedQueue<String> got = new ConcurrentLinkedQueue<>();
        try (AFUNIXDatagramSocket sd = AFUNIXDatagramSocket.newInstance()) {
            sd.bind(AFUNIXSocketAddress.of(notify));
            Thread reader = new Thread(() -> {
                byte[] buf = new byte[256];
                try {
                    while (true) {
                        DatagramPacket p = new DatagramPacket(buf, buf.length);
                        sd.receive(p);
                        got.add(new String(p.getData(), 0, p.getLength(), StandardCharsets.UTF_8));
                    }
                } catch (java.io.IOException closed) {
                    got.add("closed: " + closed.getMessage());
                }
            });
            reader.setDaemon(true);
            reader.start();
            Spawned p = nsq.spawn(javaWakeup("--nsqd-http", nsq.httpAddress().toString()),
                Map.of("NOTIFY_SOCKET", notify.toString(), "WATCHDOG_USEC", "400000", "MQUEUE_SCAN_INTERVAL", "10m"));
            Await.until("READY=1 then WATCHDOG=1 pings", WAIT, () -> got.contains("READY=1")
                && got.stream().filter("WATCHDOG=1"::equals).count() >= 3);
            Await.until("one warning about the regular file", WAIT,
                () -> p.stderr().contains("is not a socket: group file skipped"));
            p.signal("TERM");
            assertEquals(0, p.waitFor(WAIT), p.stderr());
            assertEquals(1, p.stderr().split("is not a socket", -1).length - 1, "logged once: " + p.stderr());
            assertEquals(1, p.stderr().lines().filter(l -> l.matches("\\d\\d:\\d\\d:\\d\\d\\.\\d{3} wakeup warning: "
                + java.util.regex.Pattern.quote(ChannellessSockets.warning(sockets.resolve("lonely.sock"), "lonely",
                nsq.httpAddress())))).count(),
                "the channelless socket, once, labelled wakeup: " + p.stderr());
        }
    }

    /**
     * A thousand groups woken at once (one message on each of 10 streams of 100 groups; the sockets
     * answer after 100 ms, as a consumer's start would, so the wakes overlap): the wakeup process
     * stays under the thread bound it states, a fixed set plus one reader per push subscription,
     * and has at most --max-wakes wakes under way at once. The cached pool it had ran 888 threads for
     * this at bench scale (bench/WakeupScale, 1,000 groups over 100 streams).
     */
    @Test void aThousandGroupsWokenAtOnceKeepTheWakeupUnderItsThreadBound() throws Exception {
        int streams = 10, perStream = 100;
        List<String> groups = new ArrayList<>();
        for (int s = 0; s < streams; s++) {
            nsq.http().createTopic("herd" + s);
            for (int g = 0; g < perStream; g++) {
                nsq.http().createChannel("herd" + s, "h" + s + "-" + g);
                groups.add("h" + s + "-" + g);
            }
        }
        try (WakeSockets stand = new WakeSockets(sockets, groups, Duration.ofMillis(100))) {
            // 64 at once, not 2 per core: a thousand stand-ins answering after 100 ms, 4 at once, take 25 s.
            Spawned p = nsq.spawn(javaWakeup("--nsqd-http", nsq.httpAddress().toString(), "--scan-interval", "10m",
                "--max-wakes", "64"), Map.of());
            for (int s = 0; s < streams; s++) awaitPush(nsq.http(), "herd" + s);
            long idle = threads(p.pid()), bound = wakeup.threadBound(streams + 1); // and the notes on the one nsqd
            assertTrue(idle <= bound, "idle: " + idle + " threads, bound " + bound);
            for (int s = 0; s < streams; s++) nsq.publish("herd" + s, 1);
            long[] peak = {idle};
            Await.until("every group woken", WAIT, () -> {
                peak[0] = Math.max(peak[0], threads(p.pid()));
                return groups.stream().allMatch(g -> stand.lastWake(g) > 0);
            });
            System.err.printf(
                "thousand woken at once: threads idle %d, peak %d, bound %d; %d wakes under way at most%n",
                idle, peak[0], bound, stand.maxOpen());
            assertTrue(peak[0] <= bound, "peak " + peak[0] + " threads while a thousand were woken, bound " + bound
                + " (idle " + idle + ")");
            assertTrue(stand.maxOpen() <= 64, "wakes under way at once: " + stand.maxOpen());
            assertEquals(groups.size(), stand.wakes(), "each group woken once");
        }
    }

    /**
     * The shipped wakeup (bin/mqueue, on the packaged JDK) reads its push connections on virtual threads where that
     * JDK is 24 or later: 30 push subscriptions and no OS thread for any of them, and an idle connection has no writer
     * thread either (it leaves after 2 s idle; the reader answers heartbeats). On Java 17 they are platform threads,
     * as aThousandGroupsWokenAtOnceKeepTheWakeupUnderItsThreadBound counts.
     */
    @Test void theShippedWakeupReadsPushOnVirtualThreads() throws Exception {
        Path app = NsqBinaries.repoRoot().resolve("build/current");
        String java = Files.readString(app.resolve("java")).strip();
        Process v = new ProcessBuilder(java, "--version").redirectErrorStream(true).start();
        String version = new String(v.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        v.waitFor();
        int feature = Integer.parseInt(version.split("[\\s.\"-]+")[1]);
        org.junit.jupiter.api.Assumptions.assumeTrue(feature >= 24, "packaged JDK " + feature + ": platform readers");
        int streams = 30;
        List<String> groups = new ArrayList<>();
        for (int s = 0; s < streams; s++) {
            nsq.http().createTopic("vt" + s);
            nsq.http().createChannel("vt" + s, "v" + s);
            groups.add("v" + s);
        }
        try (WakeSockets stand = new WakeSockets(sockets, groups)) {
            Spawned p = nsq.spawn(List.of(NsqBinaries.repoRoot().resolve("bin/mqueue").toString(), "wakeup",
                "--socket-dir", sockets.toString(), "--nsqd-http", nsq.httpAddress().toString(), "--scan-interval",
                "10m"), Map.of());
            for (int s = 0; s < streams; s++) awaitPush(nsq.http(), "vt" + s);
            // "nsq-write-127.0": a connection's writer; "nsq-write-deadl": the one shared write watchdog, which stays
            Await.until("no connection writer thread (idle writers leave after 2 s)", WAIT, () -> taskNames(p.pid())
                .stream().noneMatch(n -> n.startsWith("nsq-write-") && !n.startsWith("nsq-write-deadl")));
            List<String> names = taskNames(p.pid());
            assertTrue(names.stream().noneMatch(n -> n.startsWith("nsq-sub")), "no OS thread per push reader: "
                + names);
            assertTrue(names.size() < streams, names.size() + " threads for " + streams + " push readers: " + names);
        }
    }

    /** The names of a process's OS threads (as the kernel has them: 15 characters at most). */
    static List<String> taskNames(long pid) throws java.io.IOException {
        List<String> out = new ArrayList<>();
        try (var tasks = Files.list(Path.of("/proc/" + pid + "/task"))) {
            for (Path t : tasks.toList()) {
                try {
                    out.add(Files.readString(t.resolve("comm")).strip());
                } catch (java.nio.file.NoSuchFileException gone) {
                    // a thread that ended while we listed: not there any more, rightly left out
                }
            }
        }
        return out;
    }

    static long threads(long pid) throws java.io.IOException {
        for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/status"))) {
            if (line.startsWith("Threads:")) return Long.parseLong(line.substring("Threads:".length()).trim());
        }
        throw new AssertionError("no Threads: line for pid " + pid);
    }

    /**
     * --max-wakes K: twelve groups with messages waiting when the wakeup starts are woken by its first scan, at most
     * K at once (the stand-ins answer after 200 ms, as a consumer's start would, so the wakes overlap), each once, and
     * the wake says it came for a backlog.
     */
    @Test void maxWakesBoundsTheWakesUnderWayAtOnce() throws Exception {
        List<String> groups = new ArrayList<>();
        nsq.http().createTopic("many");
        for (int g = 0; g < 12; g++) {
            nsq.http().createChannel("many", "m" + g);
            groups.add("m" + g);
        }
        nsq.publish("many", 3);
        try (WakeSockets stand = new WakeSockets(sockets, groups, Duration.ofMillis(200))) {
            wakeup w = startWakeup("--nsqd-http", nsq.httpAddress().toString(), "--scan-interval", "10m", "--max-wakes",
                "3");
            Await.until("every group woken", WAIT, () -> groups.stream().allMatch(g -> w.wakes(g) == 1));
            assertEquals(12, stand.wakes(), "each group once");
            assertTrue(stand.maxOpen() <= 3, "at most 3 under way at once: " + stand.maxOpen());
            assertTrue(stand.maxOpen() >= 2, "they overlap up to the bound: " + stand.maxOpen());
            assertTrue(stand.lines().stream().allMatch(l -> l.endsWith(" backlog")), "a scan's wakes: "
                + stand.lines());
        }
    }

    @Test void badInputIsUsageError() {
        assertEquals(2, Cli.run(new wakeup(), "--scan-interval", "0s"));
        assertEquals(2, Cli.run(new wakeup(), "--debounce", "soon"));
        assertEquals(2, Cli.run(new wakeup(), "--nsqd-http", "nohost"));
        assertEquals(2, Cli.run(new wakeup(), "--wake-timeout", "0ms"));
        assertEquals(2, Cli.run(new wakeup(), "--max-wakes", "0"));
        assertEquals(2, Cli.run(new wakeup(), "--max-wakes", "1001"));
        assertEquals(2, Cli.run(new wakeup(), "--max-wakes", "many"));
        assertEquals(2, Cli.run(new wakeup(), "status", "--socket-dir", "/etc/hostname"),
            "status: a file as the socket dir");
        assertEquals(2, Cli.run(new wakeup(), "status", "--nsqd-http", "nohost"));
    }

    @Test void sdNotifyDatagramsAndWatchdog() throws Exception {
        SdNotify off = SdNotify.fromEnv(Map.of(), 1);
        assertFalse(off.enabled());
        off.send("READY=1"); // no-op, no error
        assertNull(SdNotify.fromEnv(Map.of("NOTIFY_SOCKET", "/x", "WATCHDOG_USEC", "1000000", "WATCHDOG_PID", "2"),
            1).watchdogInterval(),
            "another process's watchdog");
        assertEquals(Duration.ofMillis(500),
            SdNotify.fromEnv(Map.of("NOTIFY_SOCKET", "/x", "WATCHDOG_USEC", "1000000", "WATCHDOG_PID", "1"),
                1).watchdogInterval());
        String name = "mqueue-test-" + ProcessHandle.current().pid() + "-" + System.nanoTime();
        for (String address : List.of(sockets.resolve("n").toString(), "@" + name)) {
            try (AFUNIXDatagramSocket sd = AFUNIXDatagramSocket.newInstance()) {
                sd.bind(address.startsWith("@") ? AFUNIXSocketAddress.inAbstractNamespace(name)
                    : AFUNIXSocketAddress.of(Path.of(address)));
                sd.setSoTimeout(5_000);
                SdNotify.fromEnv(Map.of("NOTIFY_SOCKET", address), 1).send("READY=1");
                DatagramPacket p = new DatagramPacket(new byte[64], 64);
                sd.receive(p);
                assertEquals("READY=1", new String(p.getData(), 0, p.getLength(), StandardCharsets.UTF_8), address);
            }
        }
    }

    /** `java -cp <this classpath> wakeup ...`: a real process without jbang's second JVM. */
    List<String> javaWakeup(String... args) {
        List<String> cmd = new ArrayList<>(javaCommand("wakeup", "--socket-dir", sockets.toString()));
        cmd.addAll(List.of(args));
        return cmd;
    }

    static List<String> javaCommand(String main, String... args) { return Spawned.java(main, args); }
}
