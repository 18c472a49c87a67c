import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.util.List;
import nsq.HostPort;
import nsq.NsqException;
import nsq.http.NsqHttp;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** nsqd's HTTP API as the client reads it, and the fixture's own promises (restart keeps ports and data). */
class NsqHttpTest {
    @RegisterExtension final NsqFixture nsq = new NsqFixture();

    @Test void statsOfARealNsqd() throws Exception {
        NsqHttp http = nsq.http();
        http.ping();
        nsq.prepare("lib-stats", "g1", "g2#ephemeral");
        nsq.publish("lib-stats", List.of("one", "two", "three"));
        // nsqd acknowledges once the topic has the messages; its pump copies them to the channels just after.
        Await.until("both channels hold the 3 messages", java.time.Duration.ofSeconds(10), () -> {
            NsqHttp.TopicStats t = http.stats().topic("lib-stats");
            return t.channel("g1").depth() == 3 && t.channel("g2#ephemeral").depth() == 3;
        });
        NsqHttp.Stats stats = http.stats();
        assertTrue(stats.version().startsWith("1.3"), stats.version());
        NsqHttp.TopicStats topic = stats.topic("lib-stats");
        assertNotNull(topic);
        assertEquals(3, topic.messageCount());
        assertEquals(3, topic.channel("g1").depth());
        assertEquals(3, topic.channel("g2#ephemeral").depth());
        assertEquals(0, topic.channel("g1").inFlightCount());
        assertNull(http.stats("lib-stats", "missing").topic("lib-stats"), "a missing channel filter omits the topic");
        assertEquals(nsq.tcp().port(), http.info().tcpPort());
    }

    /** The wakeup reads every node's /stats each scan: an idle nsqd's answer, byte for byte the last, is not parsed. */
    @Test void anUnchangedStatsAnswerIsParsedOnce() throws Exception {
        nsq.prepare("lib-stats-once", "g1");
        NsqHttp http = new NsqHttp(nsq.httpAddress());
        NsqHttp.Stats first = http.stats();
        assertEquals(1, http.statsParsed());
        assertTrue(first == http.stats(), "the same answer: the same parse");
        assertEquals(1, http.statsParsed());
        nsq.publish("lib-stats-once", List.of("one"));
        Await.until("the message in g1's depth", java.time.Duration.ofSeconds(10), () ->
            http.stats().topic("lib-stats-once").channel("g1").depth() == 1);
        assertTrue(http.statsParsed() >= 2, "a changed answer is parsed: " + http.statsParsed());
    }

    @Test void channelOnMissingTopicIs404() {
        var e = assertThrows(NsqHttp.HttpStatusException.class, () -> nsq.http().createChannel("nope", "g"));
        assertEquals(404, e.status);
        assertEquals("TOPIC_NOT_FOUND", e.reason);
    }

    @Test void nsqdsTcpPortIsNotHttp() {
        var e = assertThrows(IOException.class, () -> new NsqHttp(nsq.tcp()).stats());
        assertTrue(NsqException.isFatal(e), "retrying cannot help: " + e);
        assertTrue(e.getMessage().contains("does not answer HTTP") && e.getMessage().chars().allMatch(c -> c >= 0x20),
            e.getMessage());
    }

    @Test void fixtureRestartKeepsPortsAndData() throws Exception {
        nsq.prepare("lib-keep", "g");
        nsq.publish("lib-keep", 10);
        HostPort before = nsq.tcp();
        long pid = nsq.nsqd().pid();
        nsq.nsqd().sigterm();
        assertThrows(IOException.class, () -> nsq.http().ping(), "nsqd is down after SIGTERM");
        nsq.nsqd().start();
        assertEquals(before, nsq.tcp());
        assertTrue(pid != nsq.nsqd().pid(), "a new process");
        assertEquals(10, nsq.channel("lib-keep", "g").depth(), "SIGTERM keeps messages on disk");
        nsq.nsqd().sigkill();
        assertFalse(nsq.nsqd().isAlive());
        nsq.nsqd().start();
        nsq.http().ping();
    }

    /**
     * A port found free can be taken by another test's daemon before nsqd binds it. The fixture's nsqd is its own
     * all the same: it moves to other ports, though something else answers /ping on the first one.
     */
    @Test void theFixturesNsqdMovesWhenAnotherProcessTookItsPort() throws Exception {
        com.sun.net.httpserver.HttpServer impostor = com.sun.net.httpserver.HttpServer.create(
            new java.net.InetSocketAddress(java.net.InetAddress.getLoopbackAddress(), NsqFixture.freePort()), 1);
        impostor.createContext("/ping", exchange -> {
            exchange.sendResponseHeaders(200, 2);
            try (var out = exchange.getResponseBody()) {
                out.write("OK".getBytes(java.nio.charset.StandardCharsets.US_ASCII));
            }
        });
        impostor.start();
        int taken = impostor.getAddress().getPort(), tcp = NsqFixture.freePort();
        java.nio.file.Path data = nsq.dir().resolve("moved");
        java.nio.file.Files.createDirectories(data);
        NsqFixture.ProcessDaemon d = new NsqFixture.ProcessDaemon("moved", data, taken, List.of(
            NsqBinaries.path("nsqd").toString(), "--tcp-address=127.0.0.1:" + tcp,
            "--http-address=127.0.0.1:" + taken, "--data-path=" + data));
        d.tcpPort = tcp;
        try {
            d.start();
            assertTrue(d.isAlive(), d.tail());
            assertFalse(d.httpAddress().port() == taken, "not the port the impostor holds");
            assertEquals(d.tcp().port(), d.http().info().tcpPort(), "the nsqd answering is this one");
            assertTrue(java.nio.file.Files.readString(d.log).contains("address already in use"), d.tail());
        } finally {
            d.stop();
            impostor.stop(0);
        }
    }
}
