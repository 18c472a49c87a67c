import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import nsq.HostPort;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Peers that are not nsqd, at the process level: producer, consumer and wakeup started as JVMs
 * with a 64 MiB heap (so a lying frame size cannot be allocated and a retry loop shows) exit 1
 * within 2 s of their start-up, with one error line naming the peer and no stack trace.
 * A silent peer is not among them: silence is what a SIGSTOPped nsqd gives, so it is waited for
 * within each tool's bound (aSilentPortIsWaitedForWithinTheBounds).
 * Start-up is measured by a `--version` run of the same JVM, so only the client's time counts.
 */
@Tag("process")
class NotNsqdTest {
    @RegisterExtension final NsqFixture nsq = new NsqFixture();
    static final List<String> SMALL_HEAP = List.of("-Xmx64m");
    static final byte[] GARBAGE = "\u0001\u0002garbage\u0000\u0000\u0000\u0000".getBytes(StandardCharsets.ISO_8859_1);

    /** How long the JVM takes to start and exit here, with nothing to connect to. */
    long startupMillis(String tool) throws Exception {
        long best = Long.MAX_VALUE;
        for (int i = 0; i < 2; i++) {
            long t0 = System.nanoTime();
            Spawned s = nsq.spawn(Spawned.java(SMALL_HEAP, tool, "--version"), Map.of());
            assertEquals(0, s.waitFor(Duration.ofSeconds(30)));
            best = Math.min(best, (System.nanoTime() - t0) / 1_000_000);
        }
        return best;
    }

    /**
     * Runs {@code tool} against {@code peer}: exit 1, in time, one error line naming it, nothing else on stderr that
     * looks like a failure.
     */
    void assertFailsClearly(String tool, long startup, HostPort peer, String says, String... args) throws Exception {
        long t0 = System.nanoTime();
        Spawned s = nsq.spawn(Spawned.java(SMALL_HEAP, tool, args), Map.of());
        int code = s.waitFor(Duration.ofSeconds(30));
        long ms = (System.nanoTime() - t0) / 1_000_000;
        String err = s.stderr();
        String what = tool + " against " + peer + " (" + says + "):\n" + err;
        assertEquals(1, code, what);
        assertTrue(ms - startup < 2_000, what + "\nexited " + (ms - startup) + " ms after start-up (" + startup
            + " ms)");
        List<String> errors = err.lines().filter(l -> l.contains("error:")).toList();
        assertEquals(1, errors.size(), "one error line: " + what);
        assertTrue(errors.get(0).contains(peer.toString()) && errors.get(0).contains(says), what);
        assertFalse(err.contains("\tat ") || err.contains("Exception in thread") || err.contains("OutOfMemoryError"),
            "no stack trace: " + what);
        assertFalse(err.contains("retrying"), "not retried: " + what);
    }

    void assertProducerAndConsumerFail(HostPort peer, String says) throws Exception {
        assertFailsClearly("producer", startupMillis("producer"), peer, says, "-s", "t", "--nsqd", peer.toString(),
            "--count", "1");
        assertFailsClearly("consumer", startupMillis("consumer"), peer, says, "-s", "t", "-g", "g", "--nsqd",
            peer.toString());
    }

    @Test void nsqdsHttpPort() throws Exception {
        assertProducerAndConsumerFail(nsq.httpAddress(),
            "is not nsqd's TCP port: it answered HTTP (\"HTTP/1.1 400 Bad Request\")");
    }

    /**
     * A port that takes the connection and says nothing is what a SIGSTOPped nsqd looks like: no proof of a wrong peer.
     * Each tool waits its bound (--retry-timeout, --connect-timeout), then exits 1 with one line saying what it waited
     * for.
     */
    @Test void aSilentPortIsWaitedForWithinTheBounds() throws Exception {
        try (FakePeer silent = FakePeer.silent()) {
            HostPort peer = silent.address();
            assertWaitedThenFailed("producer", peer, "(retry timeout 3s)", "-s", "t", "--nsqd", peer.toString(),
                "--count", "1", "--retry-timeout", "3s");
            assertWaitedThenFailed("consumer", peer, "no answer within 3s (--connect-timeout)", "-s", "t", "-g", "g",
                "--nsqd", peer.toString(),
                "--connect-timeout", "3s");
        }
    }

    /**
     * Exit 1 no sooner than the 3 s bound, one error line naming the peer, what was waited for and the bound, no stack
     * trace.
     */
    void assertWaitedThenFailed(String tool, HostPort peer, String bound, String... args) throws Exception {
        long t0 = System.nanoTime();
        Spawned s = nsq.spawn(Spawned.java(SMALL_HEAP, tool, args), Map.of());
        int code = s.waitFor(Duration.ofSeconds(60));
        long ms = (System.nanoTime() - t0) / 1_000_000;
        String err = s.stderr(), what = tool + " against a silent " + peer + ":\n" + err;
        assertEquals(1, code, what);
        assertTrue(ms >= 3_000, "waited its bound of 3 s, not " + ms + " ms: " + what);
        List<String> errors = err.lines().filter(l -> l.contains("error:")).toList();
        assertEquals(1, errors.size(), "one error line: " + what);
        assertTrue(errors.get(0).contains(bound) && errors.get(0).contains(peer.toString())
            && errors.get(0).contains("IDENTIFY"), what);
        assertFalse(err.contains("is not nsqd"), "silence is not called a wrong peer: " + what);
        assertFalse(err.contains("\tat ") || err.contains("Exception in thread"), "no stack trace: " + what);
    }

    @Test void garbage() throws Exception {
        try (FakePeer garbage = FakePeer.answering(GARBAGE)) {
            assertProducerAndConsumerFail(garbage.address(), "is not nsqd's TCP port: it sent a frame of");
        }
    }

    @Test void aFrameOfImpossibleSize() throws Exception {
        try (FakePeer huge = FakePeer.hugeFrameAfterIdentify(Integer.MAX_VALUE)) {
            // The producer never reads past its answers; the consumer reads the frame after SUB's OK.
            assertFailsClearly("producer", startupMillis("producer"), huge.address(),
                "it sent a frame of 2147483647 bytes",
                "-s", "t", "--nsqd", huge.address().toString(), "--count", "1");
            assertFailsClearly("consumer", startupMillis("consumer"), huge.address(),
                "it sent a frame of 2147483647 bytes",
                "-s", "t", "-g", "g", "--nsqd", huge.address().toString());
        }
    }

    /**
     * wakeup reads nsqd's HTTP API: nsqd's TCP port or another service there is fatal. A peer that
     * never completes a status line (silence, bytes without a line end) is an outage to wakeup, which
     * keeps watching its other nodes and retries this one with backoff.
     */
    @Test void wakeupPointedAtWhatIsNotNsqdsHttpApi() throws Exception {
        long startup = startupMillis("wakeup");
        assertFailsClearly("wakeup", startup, nsq.tcp(), "does not answer HTTP", "--nsqd-http", nsq.tcp().toString(),
            "--socket-dir", nsq.dir().toString());
        try (FakePeer garbage = FakePeer.answering("SSH-2.0-OpenSSH_9.2p1\r\n".getBytes(StandardCharsets.US_ASCII))) {
            assertFailsClearly("wakeup", startup, garbage.address(), "does not answer HTTP",
                "--nsqd-http", garbage.address().toString(), "--socket-dir", nsq.dir().toString());
        }
    }
}
