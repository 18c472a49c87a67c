package wake;

import cli.Log;
import java.nio.file.Path;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.atomic.AtomicLong;
import nsq.HostPort;

/**
 * Sockets no message can reach: {@code <dir>/G.sock} is a socket, but no stream on any nsqd has a
 * channel G, so G never has messages waiting and is never woken (its consumer, which would create
 * the channel, starts only on a wake). Each such socket is logged once, with the commands that
 * create the channel; once the channel exists, that is logged too.
 *
 * <p>Thread model: {@link #check} is the scan's (under wakeup's scan lock); what it found is
 * published as an immutable set, and the count of warnings is atomic, for any thread to read.
 */
public final class ChannellessSockets {
    private final Path dir;
    private final HostPort nsqdHttp; // for the commands in the warning; null: a placeholder
    private final StateChanges<String> states = new StateChanges<>();
    private final AtomicLong warnings = new AtomicLong();
    private volatile Set<String> current = Set.of();

    public ChannellessSockets(Path dir, HostPort nsqdHttp) {
        this.dir = dir;
        this.nsqdHttp = nsqdHttp;
    }

    /**
     * After a scan: logs each socket whose group is not among {@code backlog}'s groups (nothing when no
     * nsqd answered). {@code listing} is the scan's one listing of the socket dir; only an entry whose
     * group has no channel is looked at closer (a regular file there is GroupWaker's to report).
     */
    public void check(Backlog backlog, Set<String> listing) {
        if (!backlog.answered()) return;
        Set<String> now = new TreeSet<>();
        for (String group : new TreeSet<>(listing)) {
            boolean lonely = !backlog.groups().contains(group) && isSocket(group);
            Object before = states.get(group);
            if (lonely) now.add(group);
            if (!states.changed(group, lonely ? "no channel" : "channel")) continue;
            if (lonely) {
                warnings.incrementAndGet();
                Log.warn("%s", warning(dir.resolve(group + ".sock"), group, nsqdHttp));
            } else if (before != null) {
                Log.info("group %s has a channel now: it is woken when messages wait", group);
            }
        }
        current = java.util.Collections.unmodifiableSet(now);
    }

    /** The groups flagged by the last check. */
    public Set<String> current() { return current; }

    /** How many warnings were logged so far (each socket once per time its channel is missing). */
    public long warnings() { return warnings.get(); }

    /** The line for a socket without a channel, with the commands that fix it. */
    public static String warning(Path socket, String group, HostPort nsqdHttp) {
        String base = "http://" + (nsqdHttp != null ? nsqdHttp : "NSQD_HTTP_ADDRESS");
        return String.format("%s: group %s has no channel on any stream, so no message will wake it; create it: "
            + "curl -X POST '%s/topic/create?topic=STREAM' && curl -X POST '%s/channel/create?topic=STREAM&channel=%s'",
            socket, group, base, base, group.replace("#", "%23"));
    }

    private boolean isSocket(String group) {
        // GroupWaker reports the rest
        return SocketDir.kind(dir.resolve(group + SocketDir.SUFFIX)) == SocketDir.Kind.SOCKET;
    }
}
