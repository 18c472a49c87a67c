import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import nsq.http.NsqHttp;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** consumer.java with nsqd's msg-timeout at 2 s: crashes lose nothing, TOUCH keeps long commands' messages. */
class ConsumerRedeliveryTest {
    @RegisterExtension final NsqFixture nsq = new NsqFixture().flags("--msg-timeout=2s");

    private String[] args(String stream, String group, String... more) {
        List<String> a = new java.util.ArrayList<>(List.of("--nsqd", nsq.tcp().toString(), "-s", stream, "-g", group));
        a.addAll(List.of(more));
        return a.toArray(new String[0]);
    }

    @Test void sigkillMidStreamLosesNothing() throws Exception {
        nsq.prepare("kill", "g");
        List<String> sent = NsqFixture.bodies("k", 50);
        nsq.publish("kill", sent);
        Spawned p = nsq.spawn(Spawned.java("consumer", args("kill", "g", "--exec", "cat; echo; sleep 0.2",
            "--max-in-flight", "5")), Map.of());
        Await.until("a few handled", Duration.ofSeconds(30), () -> p.stdout().lines().count() >= 3);
        p.signal("KILL");
        p.waitFor(Duration.ofSeconds(10));
        Set<String> seen = p.stdout().lines().filter(l -> !l.isEmpty()).collect(Collectors.toCollection(HashSet::new));
        assertTrue(seen.size() < 50, "killed mid-stream: " + seen.size());
        ConsumerRun next = new ConsumerRun(args("kill", "g"));
        Await.until("the rest, in-flight ones after msg-timeout", Duration.ofSeconds(40), () -> {
            Set<String> all = new HashSet<>(seen);
            all.addAll(next.lines());
            return all.containsAll(sent);
        });
        assertEquals(0, next.stop());
    }

    @Test void touchKeepsALongCommandsMessage() throws Exception {
        nsq.prepare("touch", "g");
        nsq.publish("touch", List.of("long"));
        ConsumerRun r = new ConsumerRun(args("touch", "g", "--exec", "sleep 5", "--count", "1"));
        assertEquals(0, r.await(Duration.ofSeconds(30)));
        assertEquals(1, r.received(), "not redelivered while the 5 s command ran (msg-timeout 2 s)");
        assertEquals(1, r.finished());
        NsqHttp.ChannelStats after = nsq.channel("touch", "g");
        assertEquals(0, after.timeoutCount());
        assertEquals(0, after.depth() + after.inFlightCount());
    }

    @Test void execTimeoutKillsAndRequeues() throws Exception {
        nsq.prepare("slow", "g");
        nsq.publish("slow", List.of("x"));
        // Fails by timeout on the first attempt, then the command returns at once.
        ConsumerRun r = new ConsumerRun(args("slow", "g", "--exec", "[ $MQ_ATTEMPTS -ge 2 ] || sleep 30",
            "--exec-timeout", "500ms", "--backoff", "100ms/100ms", "--count", "1"));
        assertEquals(0, r.await(Duration.ofSeconds(30)));
        assertEquals(1, r.requeued());
        assertEquals(1, r.finished());
    }
}
