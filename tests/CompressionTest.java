import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cli.Cli;
import com.fasterxml.jackson.databind.JsonNode;
import java.io.ByteArrayInputStream;
import java.time.Duration;
import java.util.List;
import nsq.Compression;
import nsq.Connection;
import nsq.NsqConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Snappy and deflate against nsqd started with --snappy --deflate (and a certificate, TLS optional):
 * every combination delivers byte for byte, nsqd's own stats show the connection compressed, and a
 * compressed subscriber still ends its batch (flushes and FINs) when nothing more has arrived.
 */
class CompressionTest {
    static final TestCerts CERTS = TestCerts.shared();
    static final Duration WAIT = Duration.ofSeconds(30);

    @RegisterExtension final NsqFixture nsq = new NsqFixture()
        .flags("--snappy", "--deflate", "--max-deflate-level=9", "--tls-cert=" + CERTS.serverCert, "--tls-key="
        + CERTS.serverKey);

    String[] args(String... more) { return TlsTest.with(new String[] {"--nsqd", nsq.tcp().toString()}, more); }

    /** The consumer connections nsqd reports for this channel (/stats with clients). */
    JsonNode clients(String topic, String channel) throws Exception {
        return nsq.nsqd().channelWithClients(topic, channel).path("clients");
    }

    @Test void everyCombinationDeliversByteExactAndNsqdSeesItCompressed() throws Exception {
        List<byte[]> bodies = ExactBodies.lines();
        String[][] cases = {{"snappy"}, {"deflate"}, {"deflate:9"}, {"snappy", "--tls-ca", CERTS.ca.toString()},
            {"deflate:1", "--tls-ca", CERTS.ca.toString()}};
        for (String[] c : cases) {
            String name = String.join("-", c).replaceAll("[^a-z0-9]", "");
            String topic = "z" + name.substring(0, Math.min(40, name.length()));
            nsq.prepare(topic, "g");
            String[] extra = TlsTest.with(new String[] {"--compression", c[0]}, java.util.Arrays.copyOfRange(c, 1,
                c.length));
            producer p = new producer();
            p.stdin = new ByteArrayInputStream(ExactBodies.stdin(bodies));
            assertEquals(0, Cli.run(p, TlsTest.with(args("-s", topic, "-"), extra)), String.join(" ", c) + ": producer "
                + p.failure());

            ConsumerRun consumer = new ConsumerRun(TlsTest.with(args("-s", topic, "-g", "g", "--format", "json"),
                extra));
            Await.until(String.join(" ", c) + ": 3 messages", WAIT, () -> consumer.lines().size() == 3);
            JsonNode client = clients(topic, "g").path(0);
            String algorithm = Compression.parse(c[0]).algorithm();
            assertTrue(client.path(algorithm).asBoolean(), String.join(" ", c) + ": nsqd says " + client);
            assertEquals(c.length > 1, client.path("tls").asBoolean(), String.join(" ", c) + ": nsqd says " + client);
            assertEquals(0, consumer.stop());
            ExactBodies.assertSame(bodies, ExactBodies.fromJson(consumer.lines()));
        }
    }

    /**
     * With deflate the next byte may still be in the inflater; "more buffered?" must say no when nothing can be read
     * without waiting.
     */
    @Test void aCompressedSubscriberFlushesEachBurstAtOnce() throws Exception {
        nsq.prepare("burst", "g");
        for (String compression : List.of("deflate", "snappy")) {
            ConsumerRun c = new ConsumerRun(args("-s", "burst", "-g", "g", "--compression", compression,
                "--max-in-flight", "100"));
            Await.until("subscribed", WAIT, () -> nsq.channel("burst", "g").clientCount() == 1);
            for (int i = 1; i <= 3; i++) {
                final int n = i;
                nsq.publish("burst", List.of(compression + i));
                Await.until(compression + ": message " + n + " printed and finished", WAIT,
                    () -> c.lines().size() == n && nsq.channel("burst", "g").inFlightCount() == 0);
            }
            assertEquals(0, c.stop());
        }
    }

    @Test void theClientUsesWhatNsqdGrants() throws Exception {
        try (Connection snappy = Connection.open(nsq.tcp(),
                NsqConfig.defaults().withCompression(Compression.parse("snappy")))) {
            assertTrue(snappy.negotiated().flag("snappy"));
        }
        try (Connection deflate = Connection.open(nsq.tcp(),
                NsqConfig.defaults().withCompression(Compression.parse("deflate:9")))) {
            assertTrue(deflate.negotiated().flag("deflate"));
            assertEquals("9", deflate.negotiated().fields().get("deflate_level"),
                "nsqd's --max-deflate-level=9 allows it");
        }
    }
}
