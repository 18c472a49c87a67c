import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.logging.Level;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** lib/: names, addresses, durations, env defaults, CLI exit codes, HTTP client against a real nsqd. */
class LibTest {
    @RegisterExtension final NsqFixture nsq = new NsqFixture();

    @Test void namesFollowNsqRules() {
        assertTrue(Names.isValid("foo"));
        assertTrue(Names.isValid("a.b_c-D9"));
        assertTrue(Names.isValid("sa-consumer#ephemeral"));
        assertTrue(Names.isValid("x".repeat(64)));
        assertFalse(Names.isValid("x".repeat(65)));
        assertTrue(Names.isValid("x".repeat(54) + "#ephemeral"), "64 with the suffix");
        assertFalse(Names.isValid("x".repeat(55) + "#ephemeral"), "65 with the suffix");
        assertFalse(Names.isValid(""));
        assertFalse(Names.isValid("foo bar"));
        assertFalse(Names.isValid("foo/bar"));
        assertFalse(Names.isValid("#ephemeral"));
        assertFalse(Names.isValid("foo#other"));
        var e = assertThrows(CommandLine.TypeConversionException.class, () -> Names.check("stream", "bad name"));
        assertTrue(e.getMessage().contains("'bad name'") && e.getMessage().contains("1-64"), e.getMessage());
    }

    @Test void addressesParseAndReject() {
        assertEquals(new HostPort("127.0.0.1", 4150), HostPort.parse("127.0.0.1:4150"));
        assertEquals(new HostPort("::1", 4150), HostPort.parse("[::1]:4150"));
        assertEquals("[::1]:4150", HostPort.parse("[::1]:4150").toString());
        assertEquals(List.of(new HostPort("a", 1), new HostPort("b", 2)), HostPort.parseList("a:1, b:2"));
        for (String bad : List.of("nsqd", "nsqd:", ":4150", "nsqd:0", "nsqd:65536", "nsqd:http", "::1:4150")) {
            var e = assertThrows(CommandLine.TypeConversionException.class, () -> HostPort.parse(bad), bad);
            assertTrue(e.getMessage().contains("'" + bad + "'"), e.getMessage());
        }
    }

    @Test void durations() {
        assertEquals(Duration.ofMillis(250), Cli.parseDuration("250ms"));
        assertEquals(Duration.ofMillis(1500), Cli.parseDuration("1.5s"));
        assertEquals(Duration.ofSeconds(30), Cli.parseDuration("30"));
        assertEquals(Duration.ofMinutes(2), Cli.parseDuration("2m"));
        assertEquals(Duration.ofHours(1), Cli.parseDuration("1h"));
        assertThrows(CommandLine.TypeConversionException.class, () -> Cli.parseDuration("soon"));
        assertThrows(CommandLine.TypeConversionException.class, () -> Cli.parseDuration("-1s"));
        assertEquals("1.5s", Cli.format(Duration.ofMillis(1500)));
    }

    @Test void backoffDoublesUpToTheCap() {
        Backoff b = new Backoff(Duration.ofMillis(100), Duration.ofSeconds(1));
        assertEquals(100, b.delay(1).toMillis());
        assertEquals(400, b.delay(3).toMillis());
        assertEquals(1000, b.delay(5).toMillis());
        assertEquals(1000, b.delay(100).toMillis());
        long first = b.next().toMillis();
        assertTrue(first >= 80 && first <= 100, "jitter stays within 20%: " + first);
    }

    @Test void journalLinesCarryPriorities() {
        assertEquals("<3>error: boom", Log.line(Level.SEVERE, "boom", true));
        assertEquals("<4>warning: slow", Log.line(Level.WARNING, "slow", true));
        assertEquals("<6>hello", Log.line(Level.INFO, "hello", true));
        assertTrue(Log.line(Level.INFO, "hello", false).endsWith(" hello"));
    }

    @Command(name = "probe")
    static final class Probe implements Callable<Integer> {
        @Mixin ConnectionOptions.NsqdTcp tcp;
        @Mixin ConnectionOptions.NsqdHttp http;
        @Mixin ConnectionOptions.LookupdHttp lookupd;
        @Option(names = "--stream", converter = Names.Stream.class) String stream;
        @Option(names = "--wait") Duration wait;
        @Option(names = "--fail") boolean fail;

        public Integer call() {
            Cli.require(!"reserved".equals(stream), "stream '%s' is reserved", stream);
            if (fail) throw new IllegalStateException("nsqd went away");
            System.out.println(tcp.nsqd + " " + http.nsqdHttp + " " + lookupd.lookupd);
            return 0;
        }

        /** Lets the env-default test run this in a child JVM with its own environment. */
        public static void main(String[] args) { System.exit(Cli.run(new Probe(), args)); }
    }

    @Test void exitCodesAndOneLineErrors() {
        assertEquals(0, run("--nsqd", "a:1,b:2"));
        assertEquals(2, run("--nsqd", "nowhere"));
        assertEquals(2, run("--stream", "no spaces"));
        assertEquals(2, run("--wait", "later"));
        assertEquals(2, run("--stream", "reserved"));
        assertEquals(2, run("--no-such-option"));
        assertEquals(1, run("--fail"));
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        CommandLine cl = Cli.commandLine(new Probe());
        cl.setErr(new PrintWriter(err, true, StandardCharsets.UTF_8));
        assertEquals(2, cl.execute("--stream", "a/b"));
        String first = err.toString(StandardCharsets.UTF_8).lines().findFirst().orElseThrow();
        assertTrue(first.contains("'a/b'") && first.contains("^[.a-zA-Z0-9_-]+"), first);
    }

    private static int run(String... args) {
        CommandLine cl = Cli.commandLine(new Probe());
        cl.setErr(new PrintWriter(new ByteArrayOutputStream(), true));
        cl.setOut(new PrintWriter(new ByteArrayOutputStream(), true));
        return cl.execute(args);
    }

    @Test void addressesDefaultFromEnvironment() throws Exception {
        List<String> cmd = Spawned.java("LibTest$Probe");
        Spawned defaults = nsq.spawn(cmd, Map.of());
        assertEquals(0, defaults.waitFor(Duration.ofSeconds(30)), defaults.stderr());
        // The test JVM's own environment must not carry these; say so if it does.
        if (System.getenv("NSQD_TCP_ADDRESS") == null) {
            assertEquals("[127.0.0.1:4150] [127.0.0.1:4151] null", defaults.stdout().trim());
        }
        Spawned fromEnv = nsq.spawn(cmd, Map.of("NSQD_TCP_ADDRESS", "n1:4150,n2:4150",
            "NSQD_HTTP_ADDRESS", "n1:4151", "NSQLOOKUPD_HTTP_ADDRESS", "l1:4161"));
        assertEquals(0, fromEnv.waitFor(Duration.ofSeconds(30)), fromEnv.stderr());
        assertEquals("[n1:4150, n2:4150] [n1:4151] [l1:4161]", fromEnv.stdout().trim());
    }

    @Test void statsOfARealNsqd() throws Exception {
        NsqHttp http = nsq.http();
        http.ping();
        http.createTopic("lib-stats");
        http.createChannel("lib-stats", "g1");
        http.createChannel("lib-stats", "g2#ephemeral");
        try (NsqPublisher pub = new NsqPublisher(nsq.tcp(), Duration.ofSeconds(5))) {
            pub.publish("lib-stats", "one".getBytes(StandardCharsets.UTF_8));
            pub.publish("lib-stats", List.of("two".getBytes(StandardCharsets.UTF_8), "three".getBytes(StandardCharsets.UTF_8)));
        }
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

    @Test void channelOnMissingTopicIs404() throws Exception {
        var e = assertThrows(NsqHttp.HttpStatusException.class, () -> nsq.http().createChannel("nope", "g"));
        assertEquals(404, e.status);
        assertEquals("TOPIC_NOT_FOUND", e.reason);
    }

    @Test void publisherReportsOversizeWithBothSizes() throws Exception {
        try (NsqPublisher pub = new NsqPublisher(nsq.tcp(), Duration.ofSeconds(5))) {
            var e = assertThrows(NsqPublisher.NsqError.class, () -> pub.publish("lib-big", new byte[1024 * 1024 + 1]));
            assertEquals("E_BAD_MESSAGE", e.code);
            assertTrue(e.getMessage().contains("1048577 > 1048576"), e.getMessage());
        }
    }

    @Test void fixtureRestartKeepsPortsAndData() throws Exception {
        try (NsqPublisher pub = new NsqPublisher(nsq.tcp(), Duration.ofSeconds(5))) {
            nsq.http().createTopic("lib-keep");
            nsq.http().createChannel("lib-keep", "g");
            for (int i = 0; i < 10; i++) pub.publish("lib-keep", ("m" + i).getBytes(StandardCharsets.UTF_8));
        }
        HostPort before = nsq.tcp();
        long pid = nsq.nsqd().pid();
        nsq.nsqd().sigterm();
        assertThrows(java.io.IOException.class, () -> nsq.http().ping(), "nsqd is down after SIGTERM");
        nsq.nsqd().start();
        assertEquals(before, nsq.tcp());
        assertTrue(pid != nsq.nsqd().pid(), "a new process");
        assertEquals(10, nsq.http().stats().topic("lib-keep").channel("g").depth(), "SIGTERM keeps messages on disk");
        nsq.nsqd().sigkill();
        assertFalse(nsq.nsqd().isAlive());
        nsq.nsqd().start();
        nsq.http().ping();
    }

    @Test void identifyJsonIsValidWithoutJackson() throws Exception {
        Map<String, Object> fields = new java.util.LinkedHashMap<>();
        fields.put("client_id", "q\"uote\\back\nline");
        fields.put("heartbeat_interval", -1);
        fields.put("feature_negotiation", true);
        var parsed = NsqHttp.JSON.readTree(NsqConnection.flatJson(fields));
        assertEquals("q\"uote\\back\nline", parsed.get("client_id").asText());
        assertEquals(-1, parsed.get("heartbeat_interval").asInt());
        assertTrue(parsed.get("feature_negotiation").asBoolean());
    }

    @Test void identifyAnswerOfARealNsqd() throws Exception {
        try (NsqConnection c = new NsqConnection(nsq.tcp(), Duration.ofSeconds(5), Duration.ofSeconds(5), Map.of())) {
            assertEquals(60_000, c.msgTimeout().toMillis(), "nsqd's default --msg-timeout");
            assertEquals(2500, c.maxRdyCount(), "nsqd's default --max-rdy-count");
        }
    }
}
