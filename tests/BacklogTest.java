import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import nsq.HostPort;
import nsq.http.NsqHttp;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import wake.Backlog;

/** Backlog: wakeup's decisions from /stats (who is woken, where push follows), from made-up stats; no nsqd. */
@Tag("unit")
class BacklogTest {
    static final HostPort A = new HostPort("10.0.0.1", 4150), B = new HostPort("10.0.0.2", 4150);

    static NsqHttp.ChannelStats channel(String name, long depth, boolean paused) {
        return new NsqHttp.ChannelStats(name, depth, 0, 0, 0, 0, 0, 0, 0, paused);
    }

    static NsqHttp.TopicStats topic(String name, NsqHttp.ChannelStats... channels) {
        return new NsqHttp.TopicStats(name, channels.length == 0 ? null : List.of(channels), 0, 0, 0, false);
    }

    static Backlog.NodeStats node(HostPort tcp, NsqHttp.TopicStats... topics) {
        return new Backlog.NodeStats(tcp, new NsqHttp.Stats("1.3.0", "OK", 0, List.of(topics)));
    }

    @Test void depthIsSummedAcrossNodesWithEphemeralAndPausedGroupsLeftOut() {
        Backlog b = Backlog.of(List.of(
            node(A, topic("s", channel("g", 3, false), channel(wakeup.OWN_CHANNEL, 9, false), channel("tail#ephemeral",
                4, false))),
            node(B, topic("s", channel("g", 2, false), channel("p", 7, true)), topic("t", channel("h", 0, false)))));
        assertEquals(Map.of("s", Map.of("g", 5L), "t", Map.of("h", 0L)), b.depth());
    }

    /** An idle scan gets the very same Stats objects back from NsqHttp: it reuses the last Backlog. */
    @Test void theSameAnswersGiveTheSameBacklog() {
        List<Backlog.NodeStats> answers = List.of(node(A, topic("s", channel("g", 3, false))), node(B));
        Backlog first = Backlog.of(answers, null);
        assertSame(first, Backlog.of(List.copyOf(answers), first));
        Backlog.NodeStats changed = node(B, topic("s", channel("g", 1, false)));
        Backlog second = Backlog.of(List.of(answers.get(0), changed), first);
        assertNotSame(first, second);
        assertEquals(Map.of("s", Map.of("g", 4L)), second.depth());
        assertNotSame(second, Backlog.of(List.of(answers.get(0), new Backlog.NodeStats(B, null)), second),
            "a node that did not answer is news");
    }

    @Test void onlySocketBackedGroupsWithMessagesWaitingAreWoken() {
        Backlog b = Backlog.of(List.of(node(A,
            topic("s", channel("busy", 2, false), channel("idle", 0, false), channel("nosock", 5, false)),
            topic("t", channel("busy", 1, false)))));
        List<String> asked = new ArrayList<>();
        Map<String, List<String>> backed = b.backed(g -> asked.add(g) && !g.equals("nosock"));
        assertEquals(List.of("busy", "idle", "nosock", "busy"), asked, "asked once per (stream, group), in name order");
        assertEquals(Map.of("s", List.of("busy", "idle"), "t", List.of("busy")), backed);
        assertEquals(List.of(new Backlog.Waiting("s", "busy", 2), new Backlog.Waiting("t", "busy", 1)),
            b.waiting(backed));
    }

    @Test void pushFollowsOnlyStreamsWithASocketBackedGroupOnThatNode() {
        Backlog b = Backlog.of(List.of(
            node(A, topic("s", channel("g", 0, false)), topic("other", channel("x", 1, false)), topic("bare")),
            node(B, topic("s", channel("g", 0, false)), topic("paused", channel("p", 3, true))),
            node(null, topic("s", channel("g", 1, false)))));  // a direct node whose TCP port is not known yet
        Map<String, List<String>> backed = b.backed(g -> !g.equals("x"));
        assertEquals(Set.of(new Backlog.Follow(A, "s"), new Backlog.Follow(B, "s")), b.toFollow(backed),
            "not 'bare' (no group: our channel would be its first), 'other' (no socket), 'paused', nor the node "
                + "without TCP");
    }

    @Test void nodesThatDidNotAnswerCountForNothing() {
        Backlog b = Backlog.of(List.of(new Backlog.NodeStats(A, null),
            new Backlog.NodeStats(B, new NsqHttp.Stats("1.3.0", "OK", 0, null)), node(A, topic("s"))));
        assertEquals(Map.of(), b.depth());
        assertEquals(Set.of(), b.toFollow(b.backed(g -> true)));
        assertEquals(List.of(), b.waiting(b.backed(g -> true)));
    }
}
