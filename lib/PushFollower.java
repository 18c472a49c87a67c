import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Consumer;

/**
 * Push for wakeup: one subscriber per (nsqd, stream) on wakeup's own channel; each message is
 * FINed at once (it is only a signal) and reported by stream. The caller says which pairs to
 * follow after every scan; a node that stops answering drops out of that set until a scan sees it
 * again, so a reconnect never lands on a fresh nsqd whose topic would get our channel as its first.
 */
final class PushFollower {
    private final String channel;
    private final Consumer<String> onMessage;
    private final Map<Backlog.Follow, NsqSubscriber> subs = new ConcurrentHashMap<>();
    private boolean closed;

    PushFollower(String channel, Consumer<String> onMessage) {
        this.channel = channel;
        this.onMessage = onMessage;
    }

    int size() { return subs.size(); }

    /** Subscribes to each of {@code wanted} not yet followed and leaves every other. */
    synchronized void follow(Set<Backlog.Follow> wanted) {
        if (closed) return; // a scan that outlived close()
        subs.entrySet().removeIf(e -> {
            if (wanted.contains(e.getKey())) return false;
            Log.info("push: leaving %s on %s", e.getKey().stream(), e.getKey().tcp());
            e.getValue().close();
            return true;
        });
        for (Backlog.Follow f : wanted) {
            subs.computeIfAbsent(f, key -> {
                NsqSubscriber s = new NsqSubscriber(key.stream(), channel, 50, m -> {
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
