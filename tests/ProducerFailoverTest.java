import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cli.Cli;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import nsq.http.NsqHttp;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** producer.java with several --nsqd: threads spread over them, and a dead one is failed over. */
class ProducerFailoverTest {
    @RegisterExtension final NsqFixture nsq = new NsqFixture().nsqds(2);

    private String both() { return nsq.nsqd(0).tcp() + "," + nsq.nsqd(1).tcp(); }

    private long count(int nsqd, String topic) throws Exception {
        NsqHttp.TopicStats t = nsq.nsqd(nsqd).http().stats().topic(topic);
        return t == null ? 0 : t.messageCount();
    }

    @Test void threadsSpreadOverSeveralNsqd() throws Exception {
        producer p = new producer();
        assertEquals(0, Cli.run(p, "-s", "spread", "--nsqd", both(), "--threads", "2", "--rate", "max", "--count",
            "2000"));
        long a = count(0, "spread"), b = count(1, "spread");
        assertTrue(a > 0 && b > 0, "both nsqd got messages: " + a + " + " + b);
        assertEquals(2000, a + b);
    }

    @Test void aDeadNsqdIsFailedOver() throws Exception {
        nsq.nsqd(0).sigkill();
        producer p = new producer();
        CompletableFuture<Integer> code = CompletableFuture.supplyAsync(() ->
            Cli.run(p, "-s", "failover", "--nsqd", both(), "--rate", "200", "--count", "100"));
        assertEquals(0, code.get(60, TimeUnit.SECONDS), p.failure());
        assertEquals(100, p.acked());
        assertEquals(100, count(1, "failover"));
        assertTrue(p.counters.retries.sum() >= 1, "the first address failed");
        // and back: the survivor dies, the first comes back, publishing goes on there
        nsq.nsqd(0).start();
        producer q = new producer();
        CompletableFuture<Integer> again = CompletableFuture.supplyAsync(() ->
            Cli.run(q, "-s", "failover", "--nsqd", nsq.nsqd(1).tcp() + "," + nsq.nsqd(0).tcp(), "--rate", "100",
                "--count", "300"));
        Await.until("50 acknowledged", Duration.ofSeconds(30), () -> q.acked() >= 50);
        nsq.nsqd(1).sigkill();
        long ackedByTheDead = q.acked(); // read after the kill: at least what nsqd 1 acknowledged
        assertEquals(0, again.get(60, TimeUnit.SECONDS), q.failure());
        assertEquals(300, q.acked());
        assertTrue(count(0, "failover") >= 300 - ackedByTheDead,
            "the rest went to the other nsqd: " + count(0, "failover") + " >= 300 - " + ackedByTheDead);
    }
}
