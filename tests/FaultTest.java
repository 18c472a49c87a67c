import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import activation.WakeSocket;
import cli.Cli;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import nsq.http.NsqHttp;
import nsq.subscribe.Subscriber;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import util.Json;

/**
 * The fault suite: real nsqd processes killed and restarted, consumers killed, a full stdout, a
 * dead letter that does not fit, children of --exec, counts checked against nsqd's own. Each case
 * is bounded. nsqd keeps every message on disk here (--mem-queue-size=0: a SIGKILL of nsqd takes
 * only what it had in flight) and redelivers after 3 s (--msg-timeout) so a killed consumer's
 * messages come back quickly; its --max-msg-size is 1000 bytes for the dead-letter case.
 *
 * <p>Fault cases covered elsewhere, not repeated here: consumer SIGKILL
 * (ConsumerRedeliveryTest.sigkillMidStreamLosesNothing), drain on SIGTERM
 * (ConsumerTest.sigtermDrainsExits0AndTheNextConsumerGetsTheRestAtOnce), wakeup killed
 * (WakeupTest.killedAndRestartedWakeupStillWakesPendingWork), nsqd restarts under the producer
 * (ProducerTest.nsqdRestartMidRunKeepsEveryAcknowledgedSeq, ProducerFailoverTest), silent wake
 * clients (WakeSocketTest.fortySilentClientsCannotCrowdOutAWake), a dead letter refused for good
 * (DeadLettersTest), bad input (BadInputTest, BadInputProcessTest).
 */
@Tag("process")
class FaultTest {
    static final Duration BOUND = Duration.ofSeconds(60);
    static final int MSG_TIMEOUT_S = 3;

    @RegisterExtension final NsqFixture nsq = new NsqFixture()
        .flags("--mem-queue-size=0", "--msg-timeout=" + MSG_TIMEOUT_S + "s", "--max-msg-size=1000");

    /** Marker sleeps (a random duration no other test uses) that a case looks for, and kills after it. */
    private final List<String> sleeps = new ArrayList<>();

    @AfterEach void killMarkerSleeps() {
        for (String s : sleeps) processesRunning(s).forEach(ProcessHandle::destroyForcibly);
    }

    String[] args(String stream, String group, String... more) {
        List<String> a = new ArrayList<>(List.of("--nsqd", nsq.tcp().toString(), "-s", stream, "-g", group));
        a.addAll(List.of(more));
        return a.toArray(new String[0]);
    }

    /** producer.java in this JVM: {@code n} events of 200 bytes, seq 1..n, all acknowledged. */
    void produce(String stream, int n) {
        assertEquals(Cli.OK, Cli.run(new producer(), "--nsqd", nsq.tcp().toString(), "-s", stream, "--rate", "max",
            "--size", "200",
            "--count", String.valueOf(n)));
    }

    /** A stdout whose every write blocks until {@code release} (at most BOUND), then discards. */
    static OutputStream stuckUntil(CountDownLatch release) {
        return new OutputStream() {
            @Override public void write(int b) throws IOException { write(new byte[] {(byte) b}, 0, 1); }
            @Override public void write(byte[] b, int off, int len) throws IOException {
                try {
                    release.await(BOUND.toMillis(), TimeUnit.MILLISECONDS);
                } catch (InterruptedException e) {
                    throw new IOException(e);
                }
            }
        };
    }

    static Set<Long> seqs(List<String> lines) throws IOException {
        Set<Long> out = new HashSet<>();
        for (String l : lines) if (!l.isBlank()) out.add(Json.MAPPER.readTree(l).get("seq").asLong());
        return out;
    }

    static Set<Long> oneTo(long n) {
        Set<Long> s = new HashSet<>();
        for (long i = 1; i <= n; i++) s.add(i);
        return s;
    }

    // ---- nsqd killed or stopped

    /**
     * Between two consumer runs nsqd is SIGKILLed and started again on the same data: what it had
     * acknowledged is on disk, so the second run and a group nobody read yet (--expect) get all of it.
     */
    @Test void nsqdSigkillBetweenRunsLosesNothingOnDisk() throws Exception {
        nsq.prepare("between", "g", "audit");
        produce("between", 3000);
        ConsumerRun first = new ConsumerRun(args("between", "g", "--count", "1000"));
        assertEquals(0, first.await(BOUND));
        nsq.nsqd().sigkill();
        nsq.nsqd().start();
        ConsumerRun second = new ConsumerRun(args("between", "g", "--timeout", "3"));
        assertEquals(0, second.await(BOUND));
        Set<Long> got = seqs(first.lines());
        got.addAll(seqs(second.lines()));
        assertEquals(oneTo(3000), got, "every acknowledged seq, over both runs");
        ConsumerRun audit = new ConsumerRun(args("between", "audit", "--expect", "3000", "--timeout", "3"));
        assertEquals(0, audit.await(BOUND), "--expect 3000: seq 1..3000 of the producer arrived");
        assertEquals(0, audit.verifier().missing());
    }

    /**
     * The crash window. nsqd keeps what it has in flight in memory only, so a SIGKILL takes what it
     * sent that has not reached our side. A consumer that stops reading (its stdout stuck) lets nsqd
     * put a few in flight, not its 2,500 (the RDY window starts at 16 and grows only while batches
     * come back at once), and those few are already in our socket buffer: nsqd SIGKILLed and
     * restarted under it, the stdout released, every acknowledged seq arrives.
     */
    @Test void nsqdSigkillUnderAStalledConsumerTakesNothing() throws Exception {
        nsq.prepare("crash", "g");
        produce("crash", 5000);
        CountDownLatch release = new CountDownLatch(1);
        OutputStream stuck = stuckUntil(release); // a stdout nobody reads until nsqd is back
        ConsumerRun r = new ConsumerRun(x -> x.c.out = stuck, args("crash", "g", "--expect", "5000", "--timeout", "5"));
        Await.until("nsqd has sent more than the consumer printed", BOUND, () -> nsq.channel("crash",
            "g").inFlightCount() > 1);
        long most = 0;
        // a second of samples
        for (long end = System.nanoTime() + Duration.ofSeconds(1).toNanos(); System.nanoTime() < end; ) {
            most = Math.max(most, nsq.channel("crash", "g").inFlightCount());
        }
        assertTrue(most <= 2 * Subscriber.DEFAULT_FLOOR, "in flight while stalled: " + most + ", not thousands");
        nsq.nsqd().sigkill();
        nsq.nsqd().start();
        release.countDown();
        assertEquals(0, r.await(BOUND), "--expect 5000: seq 1..5000 arrived");
        assertEquals(0, r.verifier().missing());
    }

    /**
     * nsqd SIGTERMed while a slow consumer holds messages: it writes them to disk, and they come back after the
     * restart.
     */
    @Test void nsqdSigtermUnderASlowConsumerKeepsWhatWasInFlight() throws Exception {
        nsq.prepare("term", "g");
        List<String> sent = NsqFixture.bodies("t", 40);
        nsq.publish("term", sent);
        Path done = nsq.dir().resolve("term.out");
        // One write per line (O_APPEND): two commands at once must not interleave a body and another's newline.
        ConsumerRun r = new ConsumerRun(args("term", "g", "--exec", "printf '%s\\n' \"$(cat)\" >> " + done
            + "; sleep 0.1",
            "--concurrency", "2", "--max-in-flight", "4"));
        Await.until("some handled, some in flight", BOUND, () -> Files.exists(done)
            && Files.readAllLines(done).size() >= 6);
        nsq.nsqd().sigterm();
        nsq.nsqd().start();
        Await.until("all 40 handled after the restart", BOUND,
            () -> new HashSet<>(Files.readAllLines(done)).containsAll(sent));
        assertEquals(0, r.stop());
    }

    // ---- consumers killed, stdout full

    /** The socket-activated consumer SIGKILLed mid-stream: the next wake starts another, which gets the rest. */
    @Test void activatedConsumerKilledMidStreamLosesNothing() throws Exception {
        nsq.prepare("act", "sa");
        List<String> sent = NsqFixture.bodies("a", 30);
        nsq.publish("act", sent);
        Path socket = nsq.dir().resolve("sa.sock");
        Spawned first = activated(socket, "--exec", "cat; echo; sleep 0.2", "--max-in-flight", "3");
        WakeSocket.wake(socket, new WakeSocket.Wake("act", "sa"), BOUND);
        Await.until("a few handled", BOUND, () -> lines(first).size() >= 3);
        first.signal("KILL");
        first.waitFor(BOUND);
        Set<String> seen = new HashSet<>(lines(first));
        assertTrue(seen.size() < sent.size(), "killed mid-stream: " + seen.size());
        Spawned second = activated(socket, "--timeout", String.valueOf(3 * MSG_TIMEOUT_S));
        WakeSocket.wake(socket, new WakeSocket.Wake("act", "sa"), BOUND);
        assertEquals(0, second.waitFor(BOUND), "exits 0 when idle; stderr: " + second.stderr());
        seen.addAll(lines(second));
        assertEquals(new HashSet<>(sent), seen, "the first's in-flight ones came back after msg-timeout");
    }

    Spawned activated(Path socket, String... more) throws Exception {
        List<String> cmd = new ArrayList<>(List.of("systemd-socket-activate", "-l", socket.toString(), "-E",
            "LANG=C.UTF-8", "--"));
        cmd.addAll(Spawned.java("consumer", args("act", "sa", more)));
        Spawned p = nsq.spawn(cmd, Map.of());
        Await.until("systemd-socket-activate listens", BOUND, () -> p.stderr().contains("Listening on"));
        return p;
    }

    static List<String> lines(Spawned p) { return p.stdout().lines().filter(l -> !l.isBlank()).toList(); }

    /**
     * stdout is /dev/full: one error, exit 1, and every message goes back to nsqd at once (none waits for msg-timeout).
     */
    @Test void stdoutFullRequeuesEverythingAndExits1() throws Exception {
        nsq.prepare("full", "g");
        nsq.publish("full", NsqFixture.bodies("f", 100));
        List<String> cmd = new ArrayList<>(List.of("sh", "-c", "exec \"$0\" \"$@\" > /dev/full"));
        cmd.addAll(Spawned.java("consumer", args("full", "g")));
        Spawned p = nsq.spawn(cmd, Map.of());
        assertEquals(1, p.waitFor(BOUND), p.stderr());
        assertTrue(p.stderr().contains("cannot write to stdout"), p.stderr());
        Await.until("all 100 back in the group", BOUND, () -> nsq.channel("full", "g").depth() == 100);
        NsqHttp.ChannelStats after = nsq.channel("full", "g");
        assertEquals(0, after.inFlightCount(), "nothing left for msg-timeout");
        assertEquals(0, after.timeoutCount());
    }

    // ---- dead letters

    /**
     * The case: nsqd --max-msg-size=1000, a 900-byte message, --max-attempts 2. The envelope
     * (body + ~170 bytes of metadata) does not fit, so the body goes to the dead-letter stream as it
     * is, once: two deliveries in all, no requeue loop.
     */
    @Test void aDeadLetterThatDoesNotFitGoesAsItsBodyOnce() throws Exception {
        nsq.prepare("s2", "g");
        nsq.prepare("s2.dead", "inspect");
        byte[] body = new byte[900];
        Arrays.fill(body, (byte) 'a');
        nsq.nsqd().publishEach("s2", body);
        ConsumerRun r = new ConsumerRun(args("s2", "g", "--exec", "cat >/dev/null; exit 1", "--max-attempts", "2",
            "--backoff", "100ms/100ms", "--count", "1"));
        assertEquals(0, r.await(BOUND));
        assertEquals(2, r.received(), "attempt 1 failed and was requeued, attempt 2 went to the dead letters");
        assertEquals(1, r.requeued());
        assertEquals(1, r.deadLettered());
        try (ChannelReader dead = new ChannelReader(nsq.tcp(), "s2.dead", "inspect")) {
            assertArrayEquals(body, dead.take(1, BOUND).get(0).body(), "the original body, byte for byte");
        }
        NsqHttp.ChannelStats left = nsq.channel("s2", "g");
        assertEquals(0, left.depth() + left.inFlightCount() + left.deferredCount(),
            "and nothing left behind to loop on");
    }

    // ---- children of --exec

    /** A sleep with a duration nobody else uses, so the test can tell its processes apart. */
    String markerSleep() {
        String s = "sleep " + (100_000 + ThreadLocalRandom.current().nextInt(800_000));
        sleeps.add(s);
        return s;
    }

    static List<ProcessHandle> processesRunning(String commandLine) {
        return ProcessHandle.allProcesses().filter(h -> h.info().commandLine().map(c -> c.endsWith(commandLine))
            .orElse(false)).toList();
    }

    void awaitNone(String what, String marker) throws InterruptedException {
        Await.until(what + ": no '" + marker + "' left", Duration.ofSeconds(10),
            () -> processesRunning(marker).isEmpty());
    }

    /**
     * A command past --exec-timeout dies with its whole process group, also a child it orphaned
     * (reparented, so no longer its descendant); a background child of a command that exited 0
     * dies when the consumer exits.
     */
    @Test void childrenDieWithTheirCommandAndWithTheConsumer() throws Exception {
        nsq.prepare("kids", "g");
        nsq.publish("kids", List.of("k"));
        String orphan = markerSleep(), running = markerSleep(), leftover = markerSleep();
        Path started = nsq.dir().resolve("leftover.started");
        String cmd = "if [ \"$MQ_ATTEMPTS\" -ge 2 ]; then " + leftover + " >/dev/null 2>&1 & echo $! > " + started
            + "; exit 0; fi; ("
            + orphan + " &); " + running;
        ConsumerRun r = new ConsumerRun(args("kids", "g", "--exec", cmd, "--exec-timeout", "1s", "--backoff",
            "100ms/100ms", "--count", "1"));
        Await.until("attempt 1 runs, with its orphan", BOUND, () -> !processesRunning(orphan).isEmpty()
            && !processesRunning(running).isEmpty());
        awaitNone("the timed-out command's group was killed", orphan);
        awaitNone("the timed-out command was killed", running);
        assertEquals(0, r.await(BOUND));
        assertEquals(1, r.requeued(), "attempt 1 timed out");
        assertTrue(Files.exists(started), "attempt 2 started a background child and exited 0");
        awaitNone("the consumer's exit killed what attempt 2 left running", leftover);
    }

    /**
     * SIGTERM: the drain kills what still runs after --drain-timeout, with its group, and exits 0 with nothing left
     * behind.
     */
    @Test void sigtermLeavesNoChildBehind() throws Exception {
        nsq.prepare("kterm", "g");
        nsq.publish("kterm", List.of("k"));
        String background = markerSleep(), foreground = markerSleep();
        Spawned p = nsq.spawn(Spawned.java("consumer", args("kterm", "g", "--exec", background + " & " + foreground,
            "--drain-timeout", "500ms")), Map.of());
        Await.until("the command and its child run", BOUND, () -> !processesRunning(background).isEmpty()
            && !processesRunning(foreground).isEmpty());
        p.signal("TERM");
        assertEquals(0, p.waitFor(BOUND), p.stderr());
        awaitNone("SIGTERM", background);
        awaitNone("SIGTERM", foreground);
        assertEquals(1, nsq.channel("kterm", "g").depth(), "its message went back to nsqd");
    }

    // ---- counts

    /**
     * The summary's requeued is every REQ the run sent, as nsqd counts them, also those on their way when the drain
     * began.
     */
    @Test void drainRequeuesAreCountedAsNsqdCountsThem() throws Exception {
        nsq.prepare("count", "g");
        produce("count", 5000);
        CountDownLatch release = new CountDownLatch(1);
        OutputStream stuck = stuckUntil(release); // a stdout nobody reads until the drain has begun
        ConsumerRun r = new ConsumerRun(x -> x.c.out = stuck, args("count", "g"));
        // The first line blocks on stdout; nsqd has sent what the window allows (a few, not thousands: the crash
        // window).
        Await.until("nsqd sent more than the consumer read", BOUND, () -> nsq.channel("count",
            "g").inFlightCount() > 1);
        r.front.stop();
        Await.until("draining", BOUND, () -> r.messages().draining());
        release.countDown();
        assertEquals(0, r.await(BOUND));
        Await.until("nsqd has taken every answer (none left for msg-timeout)", BOUND, () -> nsq.channel("count",
            "g").inFlightCount() == 0);
        NsqHttp.ChannelStats after = nsq.channel("count", "g");
        assertEquals(after.requeueCount(), r.run().requeued(), "summary's requeued = nsqd's requeue_count");
        assertEquals(5000, r.finished() + after.depth(), "each either printed and finished or back in the group");
    }

    /** --expect N fails the run (exit 1) when a producer's seq 1..N did not all arrive, and passes when they did. */
    @Test void expectFailsTheRunWhenFewerArrived() throws Exception {
        nsq.prepare("exp", "short", "whole");
        List<String> events = new ArrayList<>();
        for (int seq : new int[] {1, 2, 4}) events.add("{\"producer\":\"h:1:0\",\"seq\":" + seq + "}");
        for (int seq : new int[] {1, 2, 3}) events.add("{\"producer\":\"h:2:0\",\"seq\":" + seq + "}");
        nsq.publish("exp", events);
        ConsumerRun shortOf = new ConsumerRun(args("exp", "short", "--expect", "3", "--count", "6"));
        assertEquals(1, shortOf.await(BOUND), "h:1:0 lacks seq 3");
        assertEquals("--expect 3: 1 of 2 producer(s) fell short: h:1:0 has 2 (missing 1, first seq 3)",
            shortOf.verifier().shortOf(3));
        ConsumerRun whole = new ConsumerRun(args("exp", "whole", "--expect", "2", "--count", "6"));
        assertEquals(0, whole.await(BOUND), "both have 1..2");
    }

    // ---- the wake socket's directory

    /** wakeup warns about a world-writable socket dir at start, and refuses a G.sock symlink even to a live socket. */
    @Test void wakeupRefusesASymlinkAndWarnsAboutAWorldWritableDir() throws Exception {
        nsq.prepare("link", "g");
        nsq.publish("link", 3);
        Path open = Files.createDirectory(nsq.dir().resolve("open"));
        Files.setPosixFilePermissions(open, PosixFilePermissions.fromString("rwxrwxrwx"));
        Path target = nsq.dir().resolve("real.sock");
        try (WakeSocket.Listener real = WakeSocket.Listener.bind(target)) {
            real.start(w -> {});
            Files.createSymbolicLink(open.resolve("g.sock"), target);
            Spawned w = nsq.spawn(Spawned.java("wakeup", "--nsqd-http", nsq.httpAddress().toString(), "--socket-dir",
                open.toString(),
                "--scan-interval", "200ms"), Map.of());
            Await.until("the warning and the refusal", BOUND, () -> w.stderr().contains("is world-writable")
                && w.stderr().contains("is a symlink (to " + target + ")"));
            assertEquals(0, real.wakes(), "the socket behind the link was never woken");
            w.signal("TERM");
            assertEquals(0, w.waitFor(BOUND), w.stderr());
            assertEquals(1, w.stderr().split("is a symlink", -1).length - 1, "said once: " + w.stderr());
        } finally {
            Files.deleteIfExists(open.resolve("g.sock"));
        }
    }
}
