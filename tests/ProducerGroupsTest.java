import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import nsq.HostPort;
import nsq.Names;
import nsq.http.NsqHttp;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * producer --groups: a group gets only what is published after it exists, so the producer can
 * create the stream's groups on every nsqd (through --nsqd-http) before its first message.
 */
class ProducerGroupsTest {
    @RegisterExtension final NsqFixture nsq = new NsqFixture().nsqds(2);

    InProcess produce(String stream, HostPort tcp, HostPort http, String... more) {
        List<String> args = new java.util.ArrayList<>(List.of("-s", stream, "--nsqd", tcp.toString(),
            "--nsqd-http", http.toString(), "--rate", "max", "--count", "5"));
        args.addAll(List.of(more));
        return InProcess.run(new producer(), args.toArray(String[]::new));
    }

    @Test void groupsCreatedFirstEachGetEveryMessage() throws Exception {
        InProcess p = produce("early", nsq.tcp(), nsq.httpAddress(), "--groups", "audit,mail");
        assertEquals(0, p.code(), p.err());
        for (String g : List.of("audit", "mail")) assertEquals(5, nsq.channel("early", g).depth(), g + " holds all 5");
        // Without --groups the same five wait in the topic for whichever group comes first.
        assertEquals(0, produce("late", nsq.tcp(), nsq.httpAddress()).code());
        NsqHttp.TopicStats late = nsq.http().stats().topic("late");
        assertTrue(late.channels() == null || late.channels().isEmpty(), "no group made without --groups");
        assertEquals(5, late.depth());
    }

    @Test void everyNsqdGetsTheGroups() throws Exception {
        InProcess p = InProcess.run(new producer(), "-s", "both", "--nsqd", nsq.nsqd(0).tcp() + "," + nsq.nsqd(1).tcp(),
            "--nsqd-http", nsq.nsqd(0).httpAddress() + "," + nsq.nsqd(1).httpAddress(), "--groups", "g", "--count", "4",
                "--rate", "max", "--threads", "2");
        assertEquals(0, p.code(), p.err());
        long total = 0;
        for (int i = 0; i < 2; i++) {
            NsqHttp.ChannelStats c = nsq.nsqd(i).channel("both", "g");
            assertTrue(c != null, "group g on nsqd" + i);
            total += c.depth();
        }
        assertEquals(4, total, "every message is in group g on the nsqd it went to");
    }

    @Test void badGroupsAreUsageErrorsAndCreateNothing() throws Exception {
        InProcess bad = produce("x", nsq.tcp(), nsq.httpAddress(), "--groups", "ok,not ok");
        assertEquals(2, bad.code());
        assertEquals("producer: Invalid value for option '--groups' (GROUP): invalid group name 'not ok': "
            + Names.RULE, bad.firstErr());
        InProcess ephemeral = produce("x", nsq.tcp(), nsq.httpAddress(), "--groups", "tail#ephemeral");
        assertEquals(2, ephemeral.code());
        assertTrue(ephemeral.firstErr().contains("an #ephemeral group keeps no messages"), ephemeral.firstErr());
        // The HTTP address of another nsqd than the one published to: refused before anything is made.
        InProcess other = produce("x", nsq.nsqd(0).tcp(), nsq.nsqd(1).httpAddress(), "--groups", "g");
        assertEquals(2, other.code());
        assertTrue(other.firstErr().startsWith("producer: --groups: no --nsqd-http [" + nsq.nsqd(1).httpAddress()
            + "] is nsqd "
            + nsq.nsqd(0).tcp()), other.firstErr());
        for (int i = 0; i < 2; i++) assertNull(nsq.nsqd(i).http().stats().topic("x"), "nothing created on nsqd" + i);
    }

    @Test void anNsqdHttpThatDoesNotAnswerIsARuntimeFailure() throws Exception {
        HostPort dead = new HostPort("127.0.0.1", NsqFixture.freePort());
        InProcess p = produce("y", nsq.tcp(), dead, "--groups", "g");
        assertEquals(1, p.code());
        assertNull(nsq.http().stats().topic("y"), "nothing published");
    }
}
