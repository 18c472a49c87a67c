import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import nsq.Names;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import util.HostName;
import wake.PushFollower;

/**
 * The wakeup's push channel is one per host: an ephemeral channel is a single queue, so two hosts'
 * wakeups sharing one would each see about half of every stream's publishes (SystemdTest's two hosts
 * follow a stream on a channel each).
 */
@Tag("unit")
class PushChannelTest {
    @Test void eachHostHasItsOwnEphemeralChannel() {
        assertEquals("mqueue-wakeup-web-1#ephemeral", PushFollower.ownChannel("web-1"));
        assertNotEquals(PushFollower.ownChannel("one"), PushFollower.ownChannel("two"));
    }

    @Test void anyHostNameGivesAValidChannelName() {
        for (String host : List.of("db.example.org", "h\u00f6st", "a b\tc", "", "x".repeat(200), "UPPER_case.9")) {
            String channel = PushFollower.ownChannel(host);
            assertTrue(Names.isValid(channel) && Names.isEphemeral(channel), "'" + channel + "' for host '" + host
                + "': " + Names.RULE);
        }
    }

    @Test void theWakeupNamesItsChannelForTheKernelsHostname() {
        assertEquals(PushFollower.ownChannel(HostName.get()), wakeup.OWN_CHANNEL);
        assertTrue(!HostName.get().isBlank());
    }
}
