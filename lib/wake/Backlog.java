package wake;

import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.function.Predicate;
import nsq.HostPort;
import nsq.Names;
import nsq.http.NsqHttp;

/**
 * What one scan of every nsqd's /stats says to wakeup: the messages waiting per (stream, group),
 * summed across nodes, and which streams each node already has a group for. A pure function of
 * the stats, so the decisions (who is woken, where push may subscribe) are tested without nsqd.
 * Ephemeral channels (wakeup's own among them) are never groups; a paused group waits for its
 * operator, not for a wake.
 */
public final class Backlog {
    /** One node's answer: the TCP address push would subscribe on (null if unknown), and its stats. */
    public record NodeStats(HostPort tcp, NsqHttp.Stats stats) {}

    /** Push's unit: one stream on one nsqd. */
    public record Follow(HostPort tcp, String stream) {}

    /** A group with messages waiting for it. */
    public record Waiting(String stream, String group, long messages) {}

    private final Map<String, Map<String, Long>> depth = new TreeMap<>(); // stream -> group -> waiting
    private final Set<Follow> withGroups = new HashSet<>();                // (nsqd, stream) with a group there
    private final Set<HostPort> nodes = new HashSet<>();                   // TCP addresses of the nodes that answered
    private final Set<String> groups = new TreeSet<>();                    // every group on any stream, paused ones too
    private boolean answered;                                              // some node's stats are in
    private final List<NodeStats> from;                                    // what it was made of

    private Backlog(List<NodeStats> from) { this.from = from; }

    /**
     * {@link #of(Collection)}, or {@code previous} itself when it was made of the very same answers: {@link
     * NsqHttp#stats} hands back the same object for an answer identical to the last, so an idle scan builds nothing.
     */
    public static Backlog of(Collection<NodeStats> nodes, Backlog previous) {
        if (previous != null && previous.from.size() == nodes.size()) {
            boolean same = true;
            var it = previous.from.iterator();
            for (NodeStats n : nodes) {
                NodeStats p = it.next();
                same &= n.stats() != null && n.stats() == p.stats() && java.util.Objects.equals(n.tcp(), p.tcp());
            }
            if (same) return previous;
        }
        return of(nodes);
    }

    public static Backlog of(Collection<NodeStats> nodes) {
        Backlog b = new Backlog(List.copyOf(nodes));
        for (NodeStats n : nodes) {
            if (n.stats() == null) continue;
            b.answered = true;
            if (n.tcp() != null) b.nodes.add(n.tcp());
            if (n.stats().topics() == null) continue;
            for (NsqHttp.TopicStats t : n.stats().topics()) {
                for (NsqHttp.ChannelStats c : t.channels() == null ? List.<NsqHttp.ChannelStats>of() : t.channels()) {
                    String group = c.channelName();
                    if (Names.isEphemeral(group)) continue;
                    b.groups.add(group);
                    if (n.tcp() != null) b.withGroups.add(new Follow(n.tcp(), t.topicName()));
                    if (c.paused()) continue;
                    b.depth.computeIfAbsent(t.topicName(), k -> new TreeMap<>()).merge(group, c.depth(), Long::sum);
                }
            }
        }
        return b;
    }

    /** The TCP addresses of the nodes that answered (where a direct node's is known yet). */
    public Set<HostPort> nodes() { return nodes; }

    /** Whether any node answered: without that, nothing is known about which groups exist. */
    public boolean answered() { return answered; }

    /** Every group (non-ephemeral channel) of any stream on any node that answered, paused ones too. */
    public Set<String> groups() { return groups; }

    /** Stream -> group -> messages waiting, in name order; paused groups left out. */
    public Map<String, Map<String, Long>> depth() { return depth; }

    /** Stream -> its groups that {@code socketBacked} accepts (asked once per stream and group, in name order). */
    public Map<String, List<String>> backed(Predicate<String> socketBacked) {
        Map<String, List<String>> backed = new LinkedHashMap<>();
        depth.forEach((stream, byGroup) -> byGroup.keySet().forEach(group -> {
            if (socketBacked.test(group)) backed.computeIfAbsent(stream, k -> new ArrayList<>()).add(group);
        }));
        return backed;
    }

    /** The groups of {@code backed} with messages waiting: the ones a scan wakes. */
    public List<Waiting> waiting(Map<String, List<String>> backed) {
        List<Waiting> out = new ArrayList<>();
        backed.forEach((stream, groups) -> {
            for (String group : groups) {
                long n = depth.get(stream).get(group);
                if (n > 0) out.add(new Waiting(stream, group, n));
            }
        });
        return out;
    }

    /** Where push may subscribe: only to streams of {@code backed} that already have a group on that nsqd,
     * so our SUB is never a topic's first channel (which would take the backlog meant for the real groups). */
    public Set<Follow> toFollow(Map<String, List<String>> backed) {
        Set<Follow> out = new HashSet<>(withGroups);
        out.removeIf(f -> !backed.containsKey(f.stream()));
        return out;
    }
}
