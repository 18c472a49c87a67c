import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.LongAdder;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Publishes batches so that a message counts only once nsqd acknowledged it. A lost connection
 * or an nsqd restart means: reconnect with capped exponential backoff, to the next address if
 * there are several, and re-send the whole unacknowledged batch (at least once; never dropped).
 * Past {@code retryTimeout} of failures, or on an error retrying cannot fix (message too big,
 * a --defer nsqd refuses), it throws {@link Failure} with a message for the user.
 * Not thread-safe: one per publishing thread, each with its own connection.
 */
final class ReliablePublisher implements AutoCloseable {
    /** Shared by all publishers of one run; read by progress and summary lines. */
    static final class Counters {
        final LongAdder acked = new LongAdder(), ackedBytes = new LongAdder(), retries = new LongAdder();
    }

    /** A failure retrying cannot fix, or retries ran out; the message says what to do. */
    static final class Failure extends Exception {
        Failure(String message, Throwable cause) { super(message, cause); }
    }

    // nsqd: "E_BAD_MESSAGE PUB message too big 1048577 > 1048576" (also MPUB, DPUB)
    private static final Pattern TOO_BIG = Pattern.compile("message too big (\\d+) > (\\d+)");
    private static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(5);

    private final List<HostPort> nsqds;
    private final String topic;
    private final Duration defer, retryTimeout;
    private final Counters counters;
    private final Backoff backoff = new Backoff(Duration.ofMillis(100), Duration.ofSeconds(5));
    private int next;
    private NsqPublisher connection;

    /** {@code first}: which address to start with, so threads spread over several nsqd. */
    ReliablePublisher(List<HostPort> nsqds, int first, String topic, Duration defer, Duration retryTimeout, Counters counters) {
        this.nsqds = List.copyOf(nsqds);
        this.next = Math.floorMod(first, nsqds.size());
        this.topic = topic;
        this.defer = defer;
        this.retryTimeout = retryTimeout;
        this.counters = counters;
    }

    /** Returns once nsqd acknowledged every message of {@code batch} (PUB, DPUB or MPUB). */
    void send(List<byte[]> batch) throws Failure {
        long failingSince = 0;
        while (true) {
            HostPort address = nsqds.get(next);
            try {
                if (connection == null) connection = new NsqPublisher(address, CONNECT_TIMEOUT);
                if (defer != null) connection.publishDeferred(topic, defer, batch.get(0));
                else if (batch.size() == 1) connection.publish(topic, batch.get(0));
                else connection.publish(topic, batch);
                long bytes = 0;
                for (byte[] b : batch) bytes += b.length;
                counters.acked.add(batch.size());
                counters.ackedBytes.add(bytes);
                if (backoff.failures() > 0) Log.info("nsqd %s: publishing again", address);
                backoff.reset();
                return;
            } catch (NsqPublisher.NsqError e) {
                disconnect(); // nsqd closes the connection after E_BAD_* and E_INVALID anyway
                if (refusedForGood(e, batch)) return;
                // E_PUB_FAILED and friends: nsqd is exiting or its disk failed; another try may work
                failingSince = retryLater(address, e, failingSince);
            } catch (IOException e) {
                disconnect();
                failingSince = retryLater(address, e, failingSince);
            }
        }
    }

    /** Handles nsqd errors no retry can fix; returns true when the batch got through another way. */
    private boolean refusedForGood(NsqPublisher.NsqError e, List<byte[]> batch) throws Failure {
        Matcher big = TOO_BIG.matcher(e.getMessage());
        if (e.code.equals("E_BAD_MESSAGE") && big.find()) {
            long limit = Long.parseLong(big.group(2));
            // MPUB is all or nothing: the batch's other messages were refused with it; send them alone.
            List<byte[]> fit = new ArrayList<>();
            for (byte[] b : batch) if (b.length <= limit) fit.add(b);
            if (!fit.isEmpty() && fit.size() < batch.size()) send(fit);
            throw new Failure("a message of " + big.group(1) + " bytes is larger than nsqd " + nsqds.get(next)
                + " accepts (its --max-msg-size is " + limit + " bytes): start nsqd with a larger --max-msg-size"
                + " or send smaller messages (nsqd said: " + e.getMessage() + ")", e);
        }
        if (e.code.equals("E_BAD_BODY") && batch.size() > 1 && e.getMessage().contains("body too big")) {
            // Batch over nsqd's --max-body-size: halve it until it fits.
            Log.debug("%s; splitting the batch of %d", e.getMessage(), batch.size());
            send(batch.subList(0, batch.size() / 2));
            send(batch.subList(batch.size() / 2, batch.size()));
            return true;
        }
        if (e.code.equals("E_INVALID") && defer != null && e.getMessage().contains("DPUB")) {
            throw new Failure("nsqd " + nsqds.get(next) + " refused --defer " + Cli.format(defer)
                + ": its --max-req-timeout is lower (nsqd said: " + e.getMessage() + ")", e);
        }
        if (e.code.startsWith("E_BAD_") || e.code.equals("E_INVALID") || e.code.startsWith("E_AUTH") || e.code.startsWith("E_UNAUTH")) {
            throw new Failure(e.getMessage(), e);
        }
        return false;
    }

    /** Logs the failure, waits the next backoff delay and moves to the next address; throws past the retry timeout. */
    private long retryLater(HostPort address, IOException e, long failingSince) throws Failure {
        long now = System.nanoTime();
        if (failingSince == 0) failingSince = now;
        Duration failing = Duration.ofNanos(now - failingSince);
        if (failing.compareTo(retryTimeout) >= 0) {
            throw new Failure("no nsqd acknowledged for " + Cli.format(failing) + " (--retry-timeout "
                + Cli.format(retryTimeout) + "); last error: " + Cli.describe(e), e);
        }
        Duration delay = backoff.next();
        counters.retries.increment();
        next = (next + 1) % nsqds.size();
        // The first failure of a streak, and then every few, at warning level: an operator sees it at once.
        if (backoff.failures() == 1 || backoff.failures() % 5 == 0) {
            Log.warn("publish to nsqd %s failed (%s); retrying %s in %s (failure %d, giving up after %s)",
                address, Cli.describe(e), nsqds.get(next), Cli.format(delay), backoff.failures(), Cli.format(retryTimeout));
        } else {
            Log.debug("publish to nsqd %s failed (%s); retrying in %s", address, Cli.describe(e), Cli.format(delay));
        }
        try {
            Thread.sleep(delay.toMillis());
        } catch (InterruptedException ie) {
            Thread.currentThread().interrupt();
            throw new Failure("interrupted while retrying; last error: " + Cli.describe(e), e);
        }
        return failingSince;
    }

    private void disconnect() {
        if (connection == null) return;
        try {
            connection.close();
        } catch (IOException e) {
            Log.debug("closing the connection to nsqd %s: %s", connection.address(), e.getMessage());
        }
        connection = null;
    }

    @Override
    public void close() { disconnect(); }
}
