package nsq.publish;

import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.LongAdder;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import nsq.Batch;
import nsq.HostPort;
import nsq.NsqConfig;
import nsq.NsqException;
import util.Backoff;
import util.Durations;

/**
 * Publishes batches so that a message counts only once nsqd acknowledged it. A lost connection
 * or an nsqd restart means: reconnect with capped exponential backoff, to the next address if
 * there are several, and re-send the whole unacknowledged batch (at least once; never dropped).
 * {@code retryTimeout} is a hard bound on a streak of failures, connect attempts included. Errors
 * retrying cannot fix (a peer that is not nsqd, an nsqd that refuses us, a message too big) end
 * it at once with {@link Failure}. Not thread-safe: one per publishing thread.
 */
public final class ReliablePublisher implements AutoCloseable {
    /** Shared by all publishers of one run; read by progress and summary lines. */
    public static final class Counters {
        public final LongAdder acked = new LongAdder(), ackedBytes = new LongAdder(), retries = new LongAdder();
    }

    /** A failure retrying cannot fix, or retries ran out; the message says what to do. */
    public static final class Failure extends Exception {
        private final boolean refused;

        Failure(String message, boolean refused, Throwable cause) {
            super(message, cause);
            this.refused = refused;
        }

        /** True when nsqd (or a peer that is not nsqd) refused the batch for good, false when retries ran out. */
        public boolean refused() { return refused; }
    }

    // nsqd: "E_BAD_MESSAGE PUB message too big 1048577 > 1048576" (also MPUB, DPUB)
    private static final Pattern TOO_BIG = Pattern.compile("message too big (\\d+) > (\\d+)");

    private final List<HostPort> nsqds;
    private final String topic;          // what send(batch) publishes to, and how deferred (null: not)
    private final Duration defer, retryTimeout;
    private final NsqConfig config;
    private final Counters counters;
    private final Backoff backoff = new Backoff(Duration.ofMillis(100), Duration.ofSeconds(5));
    private int next;
    private Publisher connection;

    /** {@code first}: which address to start with, so threads spread over several nsqd. */
    public ReliablePublisher(NsqConfig config, List<HostPort> nsqds, int first, String topic, Duration defer,
        Duration retryTimeout,
                             Counters counters) {
        this.config = config;
        this.nsqds = List.copyOf(nsqds);
        this.next = Math.floorMod(first, nsqds.size());
        this.topic = topic;
        this.defer = defer;
        this.retryTimeout = retryTimeout;
        this.counters = counters;
    }

    /** Returns once nsqd acknowledged every message of {@code batch} (PUB, DPUB or MPUB). */
    public void send(List<byte[]> batch) throws Failure { send(Batch.of(batch)); }

    /** The same for a batch written as it goes out (producer.java's generated events). */
    public void send(Batch batch) throws Failure { send(topic, defer, batch); }

    /**
     * The same to another topic, deferred by {@code defer} (null: not deferred; DPUB takes one message), over
     * this publisher's connection: one publisher serves every topic of a thread (lib/Nsq.java's publisher).
     */
    public void send(String topic, Duration defer, Batch batch) throws Failure {
        if (defer != null && batch.size() != 1) throw new IllegalArgumentException("DPUB takes one message, not "
            + batch.size());
        long failingSince = 0;
        while (true) {
            HostPort address = nsqds.get(next);
            // A streak of failures starts with the attempt that failed first, connect time included (a connect can
            // hang).
            long attemptStart = System.nanoTime();
            long streakStart = failingSince != 0 ? failingSince : attemptStart;
            try {
                if (connection == null) connection = connect(address, streakStart);
                if (defer != null) connection.publishDeferred(topic, defer, batch.body(0));
                else if (batch.size() == 1) connection.publish(topic, batch.body(0));
                else connection.publish(topic, batch);
                counters.acked.add(batch.size());
                counters.ackedBytes.add(batch.bytes());
                if (backoff.failures() > 0) config.logger().info("nsqd " + address + ": publishing again");
                backoff.reset();
                return;
            } catch (NsqException.ErrorResponse e) {
                disconnect(); // nsqd closes the connection after E_BAD_* and E_INVALID anyway
                if (refusedForGood(e, topic, defer, batch)) return;
                failingSince = retryLater(address, e, streakStart, attemptStart);
            } catch (IOException e) {
                disconnect();
                if (e instanceof NsqException n && n.fatal()) throw new Failure(NsqException.describe(e), true, e);
                failingSince = retryLater(address, e, streakStart, attemptStart);
            }
        }
    }

    /**
     * A connect attempt (its TCP connect, then its wait for IDENTIFY's answer) never outlasts what is left of the retry
     * timeout.
     */
    private Publisher connect(HostPort address, long streakStart) throws IOException {
        long left = retryTimeout.toMillis() - (System.nanoTime() - streakStart) / 1_000_000;
        NsqConfig c = config.withConnectTimeout(Duration.ofMillis(Math.max(1,
            Math.min(config.connectTimeout().toMillis(), left))))
            .withHandshakeTimeout(Duration.ofMillis(Math.max(1, Math.min(config.handshakeTimeout().toMillis(), left))));
        return new Publisher(address, c);
    }

    /** Handles nsqd errors no retry can fix; returns true when the batch got through another way. */
    private boolean refusedForGood(NsqException.ErrorResponse e, String topic, Duration defer,
            Batch batch) throws Failure {
        Matcher big = TOO_BIG.matcher(e.text());
        if (e.code().equals("E_BAD_MESSAGE") && big.find()) {
            long limit = Long.parseLong(big.group(2));
            // MPUB is all or nothing: the batch's other messages were refused with it; send them alone.
            List<byte[]> fit = new ArrayList<>();
            for (byte[] b : batch.toList()) if (b.length <= limit) fit.add(b);
            if (!fit.isEmpty() && fit.size() < batch.size()) send(topic, defer, Batch.of(fit));
            throw new Failure("a message of " + big.group(1) + " bytes is larger than nsqd's --max-msg-size ("
                + limit + " bytes): start nsqd with a larger --max-msg-size or send smaller messages (" + e.getMessage()
                + ")", true, e);
        }
        if (e.code().equals("E_BAD_BODY") && batch.size() > 1 && e.text().contains("body too big")) {
            // Batch over nsqd's --max-body-size: halve it until it fits.
            config.logger().debug(e.getMessage() + "; splitting the batch of " + batch.size());
            List<byte[]> all = batch.toList();
            send(topic, defer, Batch.of(all.subList(0, all.size() / 2)));
            send(topic, defer, Batch.of(all.subList(all.size() / 2, all.size())));
            return true;
        }
        if (e.code().equals("E_INVALID") && defer != null && e.text().contains("DPUB")) {
            throw new Failure("a defer of " + Durations.format(defer)
                + " is longer than nsqd's --max-req-timeout allows ("
                + e.getMessage() + ")", true, e);
        }
        if (e.fatal()) throw new Failure(e.getMessage(), true, e);
        return false; // E_PUB_FAILED and friends: nsqd is exiting or its disk failed; another try may work
    }

    /**
     * Logs the failure, waits out the next backoff delay and moves to the next address; throws past the retry timeout.
     * The delay counts from the attempt's start: an attempt that waited on a silent nsqd (a stopped one answers the
     * moment it resumes) already waited, so the next goes out at once and nsqd's resumption is seen without delay.
     */
    private long retryLater(HostPort address, IOException e, long failingSince, long attemptStart) throws Failure {
        long now = System.nanoTime();
        Duration failing = Duration.ofNanos(now - failingSince);
        if (failing.compareTo(retryTimeout) >= 0) {
            throw new Failure("no nsqd acknowledged for " + Durations.format(failing) + " (retry timeout "
                + Durations.format(retryTimeout) + "); last error: " + NsqException.describe(e), false, e);
        }
        Duration delay = backoff.next().minusNanos(now - attemptStart);
        if (delay.isNegative()) delay = Duration.ZERO;
        Duration left = retryTimeout.minus(failing);
        if (delay.compareTo(left) > 0) delay = left; // one last try right at the retry timeout
        counters.retries.increment();
        next = (next + 1) % nsqds.size();
        // The first failure of a streak, and then every fifth, at warning level: an operator sees it at once.
        String line = "publish to nsqd " + address + " failed (" + NsqException.describe(e) + "); retrying "
            + nsqds.get(next)
            + " in " + Durations.format(delay) + " (failure " + backoff.failures() + ", giving up after "
            + Durations.format(retryTimeout) + ")";
        if (backoff.failures() == 1 || backoff.failures() % 5 == 0) config.logger().warn(line);
        else config.logger().debug(line);
        try {
            Thread.sleep(delay.toMillis());
        } catch (InterruptedException ie) {
            Thread.currentThread().interrupt();
            throw new Failure("interrupted while retrying; last error: " + NsqException.describe(e), false, e);
        }
        return failingSince;
    }

    private void disconnect() {
        if (connection == null) return;
        connection.close();
        connection = null;
    }

    @Override
    public void close() { disconnect(); }
}
