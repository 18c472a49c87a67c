import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.function.BooleanSupplier;

/**
 * What consumer.java reads from: one {@link NsqSubscriber} per stream, all as one group, started,
 * paused, resumed and closed together. Start-up waits for every stream's first subscription: a
 * slow nsqd (a loaded machine, a socket-activated start) gets the whole connect timeout, while a
 * host that refuses connections or does not resolve fails within {@link #REFUSED_WAIT}.
 */
final class Subscriptions implements AutoCloseable {
    /** Called on a connection's reader thread. */
    interface Handler {
        void handle(String stream, NsqSubscriber sub, NsqSubscriber.Message m);
    }

    /** A host that refuses this long is not coming up (a restarting nsqd takes less). */
    static final Duration REFUSED_WAIT = Duration.ofSeconds(5);

    private final List<NsqSubscriber> subscribers = new ArrayList<>();

    /**
     * {@code maxInFlight} is split over the streams; nodes come from nsqlookupd when given, else nsqd.
     * {@code endOfBatch}: a reader has nothing more buffered (see {@link NsqSubscriber.Handler#endOfBatch}).
     */
    Subscriptions(List<String> streams, String group, int maxInFlight, ConnectionOptions.NsqdTcp nsqd,
                  ConnectionOptions.LookupdHttp lookupd, Duration lookupdInterval, Handler handler, Runnable endOfBatch) {
        for (String s : streams) {
            NsqSubscriber[] self = new NsqSubscriber[1];
            NsqSubscriber sub = new NsqSubscriber(s, group, Math.max(1, maxInFlight / streams.size()), new NsqSubscriber.Handler() {
                @Override public void handle(NsqSubscriber.Message m) { handler.handle(s, self[0], m); }
                @Override public void endOfBatch() { endOfBatch.run(); }
            });
            self[0] = sub;
            if (lookupd.enabled()) sub.discoverWith(lookupd.lookupd, lookupdInterval);
            else sub.connectTo(nsqd.nsqd);
            subscribers.add(sub);
        }
    }

    /** Connects, then waits for every stream; false (the reason logged) when one is not ready in time. */
    boolean start(Duration connectTimeout, BooleanSupplier stopping) throws InterruptedException {
        for (NsqSubscriber sub : subscribers) sub.start();
        long start = System.nanoTime();
        for (NsqSubscriber sub : subscribers) {
            while (!stopping.getAsBoolean() && !sub.awaitReady(Duration.ofMillis(100))) {
                Duration waited = Duration.ofNanos(System.nanoTime() - start);
                if (waited.compareTo(connectTimeout) >= 0 || sub.refused() && waited.compareTo(REFUSED_WAIT) >= 0) {
                    Log.error("cannot read stream %s: %s", sub.topic(), sub.lastError() != null ? sub.lastError()
                        : "no answer within " + Cli.format(connectTimeout) + " (--connect-timeout)");
                    return false;
                }
            }
        }
        return true;
    }

    /** RDY 0 everywhere: no more messages; what is in flight stays ours to answer. */
    void pause() { for (NsqSubscriber s : subscribers) s.pause(); }

    void resume() { for (NsqSubscriber s : subscribers) s.resume(); }

    /** Messages delivered and not yet answered, over all streams. */
    boolean inFlight() {
        for (NsqSubscriber s : subscribers) if (s.inFlight() > 0) return true;
        return false;
    }

    /** Requeues what is unanswered at once, then closes (see {@link NsqSubscriber#close}). */
    @Override
    public void close() { for (NsqSubscriber s : subscribers) s.close(); }
}
