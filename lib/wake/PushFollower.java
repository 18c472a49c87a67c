package wake;

import cli.Log;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Consumer;
import nsq.NsqConfig;
import nsq.NsqException;
import nsq.subscribe.Message;
import nsq.subscribe.Subscriber;
import util.Threads;

/**
 * Push for wakeup: one subscriber per (nsqd, stream) on wakeup's own channel; each message is
 * FINed at once (it is only a signal) and reported with its stream. The caller says which pairs to
 * follow after every scan; a node that stops answering drops out of that set until a scan sees it
 * again, so a reconnect never lands on a fresh nsqd whose topic would get our channel as its first.
 *
 * <p>Thread model: {@link #follow} and {@link #close} are the scan loop's (one lock, held while
 * subscribers are made and closed; no reader thread takes it). Each subscription's reader thread calls
 * the handler; the map of subscriptions is concurrent so {@link #size} reads it from any thread.
 */
public final class PushFollower {
    /** Messages a push connection may hold: each is FINed as it arrives, so a few keep it flowing. */
    private static final int IN_FLIGHT = 50;

    private final NsqConfig config;
    private final String channel;
    private final Handler onMessage;
    private final Map<Backlog.Follow, Subscriber> subs = new ConcurrentHashMap<>();
    private boolean closed;
    private final Consumer<NsqException> onFatal;

    /**
     * The wakeup's channel on every stream it follows, one per host. An ephemeral channel is one queue
     * whatever its subscribers, so wakeups on two hosts sharing a name would split each stream's copies:
     * each would see about half the publishes, and the other half of its groups would wait for a scan.
     * Channel names allow {@code [.a-zA-Z0-9_-]} and 64 characters; anything else in the host becomes '_'.
     */
    public static String ownChannel(String host) {
        String prefix = "mqueue-wakeup-", suffix = "#ephemeral";
        String name = host.replaceAll("[^.a-zA-Z0-9_-]", "_");
        name = name.substring(0, Math.min(name.length(), 64 - prefix.length() - suffix.length()));
        return prefix + (name.isEmpty() ? "_" : name) + suffix;
    }

    /** What a message says: on which stream it came, and its body. Called on the subscription's reader thread. */
    public interface Handler { void onMessage(String stream, byte[] body); }

    /**
     * {@code onFatal}: a push connection failed in a way no retry can fix (nsqd refused our TLS or AUTH); the client
     * logged it.
     */
    public PushFollower(NsqConfig config, String channel, Handler onMessage, Consumer<NsqException> onFatal) {
        this.config = config;
        this.channel = channel;
        this.onMessage = onMessage;
        this.onFatal = onFatal;
    }

    public int size() { return subs.size(); }

    /** Subscribes to each of {@code wanted} not yet followed and leaves every other. */
    public synchronized void follow(Set<Backlog.Follow> wanted) {
        if (closed) return; // a scan that outlived close()
        subs.entrySet().removeIf(e -> {
            if (wanted.contains(e.getKey())) return false;
            Log.info("push: leaving %s on %s", e.getKey().stream(), e.getKey().tcp());
            e.getValue().close();
            return true;
        });
        for (Backlog.Follow f : wanted) {
            subs.computeIfAbsent(f, key -> {
                Subscriber s = new Subscriber(config, List.of(key.stream()), channel, IN_FLIGHT,
                        new Subscriber.Handler() {
                    @Override public void onMessage(Message m) {
                        m.finish();
                        onMessage.onMessage(key.stream(), m.body());
                    }

                    @Override public void onFatal(NsqException e) { onFatal.accept(e); }
                }).connectTo(List.of(key.tcp())).readerThreads(Threads.readers()); // mostly idle: light threads
                s.start();
                Log.info("push: following %s on %s", key.stream(), key.tcp());
                return s;
            });
        }
    }

    public synchronized void close() {
        closed = true;
        subs.values().forEach(Subscriber::close);
        subs.clear();
    }
}
