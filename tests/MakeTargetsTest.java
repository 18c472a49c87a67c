import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The Makefile's targets as a user runs them, against a private nsqd: data on stdout, and on stderr
 * only the lines each tool means to print, checked line by line (no stray version number, no
 * `sed: can't read`, no make noise).
 */
@Tag("process")
class MakeTargetsTest {
    @RegisterExtension final NsqFixture nsq = new NsqFixture();

    static final Duration BOUND = Duration.ofMinutes(3); // a cold cache builds the script first
    static final String TIME = "\\d\\d:\\d\\d:\\d\\d\\.\\d{3} ";
    private Path sockets;

    /** The lines checked here are the tools' own, not a first packaging's. */
    @BeforeAll static void packaged() throws Exception { Packaged.ensure(); }

    // short: socket paths <= 108 bytes
    @BeforeEach void dirs() throws Exception { sockets = Files.createTempDirectory("mq-mk-"); }

    @AfterEach void clean() throws Exception {
        try (var files = Files.list(sockets)) {
            for (Path p : files.toList()) Files.deleteIfExists(p);
        }
        Files.deleteIfExists(sockets);
    }

    /** make as a user runs it, with the seed's variables; the caller's own STREAM, GROUP, ... never leak in. */
    Spawned make(Map<String, String> vars, String... args) throws Exception {
        Map<String, String> env = new HashMap<>(Map.of("NSQD_TCP_ADDRESS", nsq.tcp().toString(), "NSQD_HTTP_ADDRESS",
            nsq.httpAddress().toString()));
        env.putAll(vars);
        // Under `make test` the runner inherits MAKELEVEL and MAKEFLAGS: a make started from it would
        // be a sub-make ("make[1]: Entering directory"), not what a user sees.
        List<String> cmd = new java.util.ArrayList<>(List.of("env", "-u", "MAKELEVEL", "-u", "MAKEFLAGS", "-u",
            "MFLAGS"));
        for (String v : List.of("STREAM", "GROUP", "TIMEOUT", "COUNT", "INTERVAL", "RATE", "STREAM_GROUPS", "THREADS",
            "GOROUTINES",
                "PAYLOAD_KEYS", "NSQLOOKUPD_HTTP_ADDRESS", "FORMAT",
                    "SOCKET_DIR")) if (!vars.containsKey(v)) cmd.addAll(List.of("-u", v));
        cmd.add("make");
        cmd.addAll(List.of(args));
        return nsq.spawn(cmd, env);
    }

    /** Every line matches its pattern, in order, and there are no others. */
    static void assertLines(List<String> patterns, String text, String what) {
        List<String> lines = text.lines().toList();
        assertEquals(patterns.size(), lines.size(), what + ": line count in:\n" + text);
        for (int i = 0; i < lines.size(); i++) {
            assertTrue(Pattern.matches(patterns.get(i), lines.get(i)), what + " line " + (i + 1) + " '" + lines.get(i)
                + "' !~ " + patterns.get(i));
        }
    }

    @Test void helpListsTheTargetsOnStdout() throws Exception {
        Spawned help = make(Map.of(), "help");
        assertEquals(0, help.waitFor(BOUND));
        assertEquals("", help.stderr());
        List<String> lines = help.stdout().lines().toList();
        assertTrue(lines.size() >= 10, help.stdout());
        for (String l : lines) assertTrue(l.matches("  make [a-z-]+ +\\S.*"), "a target and what it does: " + l);
        for (String t : List.of("demo", "test", "producer", "consumer", "wakeup", "systemd-socket-activate-consumer")) {
            assertTrue(lines.stream().anyMatch(l -> l.startsWith("  make " + t + " ")), t + " listed");
        }
    }

    @Test void installIsSilentWhenEverythingIsThere() throws Exception {
        Spawned install = make(Map.of(), "-s", "install");
        assertEquals(0, install.waitFor(BOUND), install.stderr());
        assertEquals("", install.stdout());
        assertEquals("", install.stderr(), "no bare JBang version, nothing at all");
    }

    /** The seed's walkthrough: groups first (STREAM_GROUPS), the producer with COUNT, the consumer with TIMEOUT. */
    @Test void producerThenConsumerPrintDataOnStdoutAndTheirLinesOnStderr() throws Exception {
        Spawned producer = make(Map.of("STREAM", "mk", "STREAM_GROUPS", "1,2", "COUNT", "3", "INTERVAL", "10ms",
            "PAYLOAD_KEYS", "1"),
            "-s", "producer");
        assertEquals(0, producer.waitFor(BOUND), producer.stderr());
        assertEquals("", producer.stdout());
        assertLines(List.of(
            TIME + "producer nsqd " + Pattern.quote(nsq.httpAddress().toString())
                + ": stream 'mk' has group\\(s\\) 1, 2",
            TIME + "producer publishing events of ~\\d+ bytes to 'mk' on .*",
            TIME + "producer done: 3 sent, 3 acknowledged, 0 not acknowledged, .*"), producer.stderr(),
                "producer stderr");

        for (String group : List.of("1", "2")) {
            Spawned consumer = make(Map.of("STREAM", "mk", "GROUP", group, "TIMEOUT", "1"), "-s", "consumer");
            assertEquals(0, consumer.waitFor(BOUND), consumer.stderr());
            List<String> out = consumer.stdout().lines().toList();
            assertEquals(3, out.size(), "group " + group + " got every event:\n" + consumer.stdout());
            for (int i = 0; i < 3; i++) assertTrue(out.get(i).matches("\\{\"stream\":\"mk\",.*\"seq\":" + (i + 1)
                + ",.*"), out.get(i));
            assertLines(List.of(
                TIME + "consumer reading mk as group " + group + " from nsqd .*, exiting after 1s idle",
                TIME + "consumer no message for 1s: exiting",
                TIME + "consumer summary: received=3 finished=3 requeued=0 dead-lettered=0 .*"), consumer.stderr(),
                    "consumer stderr");
        }
    }

    @Test void anEmptyStreamIsOneLineThatSaysSo() throws Exception {
        Spawned p = make(Map.of("STREAM", ""), "-s", "producer");
        assertEquals(2, p.waitFor(BOUND), "make's code for a failed recipe");
        assertEquals("", p.stdout());
        assertLines(List.of(
            "producer: Invalid value for option '--stream': the stream name is empty: NSQ names match .*",
            "Try 'producer --help' for more information.",
            "make: \\*\\*\\* \\[Makefile:\\d+: producer\\] Error 2"), p.stderr(), "producer stderr");
    }

    /** The group's topic and channel exist before its socket does, so a wake can come (README: socket activation). */
    @Test void socketActivatedConsumerCreatesItsGroupFirst() throws Exception {
        Path socket = sockets.resolve("sa.sock");
        Spawned loop = make(Map.of("STREAM", "sa-stream", "GROUP", "sa", "TIMEOUT", "1", "SOCKET_DIR",
            sockets.toString()),
            "-s", "systemd-socket-activate-consumer");
        Await.until("the socket listens", BOUND, () -> Files.exists(socket));
        assertTrue(nsq.channel("sa-stream", "sa") != null, "channel sa made before the socket");
        assertLines(List.of(
            "socket-activate-consumer: nsqd " + Pattern.quote(nsq.httpAddress().toString())
                + ": topic sa-stream, channel sa",
            "socket-activate-consumer: group sa of stream sa-stream waits on " + Pattern.quote(socket.toString())),
            loop.stderr(), "socket-activate-consumer stderr");
        ProcessHandle script = loop.process.descendants()
            .filter(h -> h.info().commandLine().map(c -> c.contains("scripts/socket-activate-consumer")).orElse(false))
            .findFirst().orElseThrow(() -> new AssertionError("no socket-activate-consumer process under make"));
        new ProcessBuilder("kill", "-TERM", String.valueOf(script.pid())).inheritIO().start().waitFor();
        assertEquals(0, loop.waitFor(BOUND), loop.stderr());
        assertFalse(Files.exists(socket), "the socket is removed on exit");
        assertEquals("", loop.stdout());
    }

    @Test void aMissingToolIsOneLineNamingItsPackage() throws Exception {
        Spawned p = nsq.spawn(List.of("scripts/need", "curl:curl", "mqueue-no-such-tool:mqueue-pkg",
            "mqueue-other-tool:mqueue-pkg"), Map.of());
        assertEquals(1, p.waitFor(BOUND));
        assertLines(List.of("mqueue: mqueue-no-such-tool mqueue-other-tool not found: install Debian/Ubuntu "
            + "package\\(s\\) mqueue-pkg \\(apt-get install mqueue-pkg\\)"), p.stderr(), "need");
    }
}
