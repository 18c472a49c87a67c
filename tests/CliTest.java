import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cli.Cli;
import cli.ConnectionOptions;
import cli.Converters;
import cli.DeclaredOptions;
import cli.Log;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import nsq.HostPort;
import nsq.Names;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine;
import util.Backoff;
import util.Durations;

/** The CLI conventions every tool shares: names, addresses, durations, env defaults, exit codes, log lines. No nsqd. */
@Tag("unit")
class CliTest {
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
        var e = assertThrows(IllegalArgumentException.class, () -> Names.check("stream", "bad name"));
        assertTrue(e.getMessage().contains("'bad name'") && e.getMessage().contains("1-64"), e.getMessage());
    }

    @Test void addressesParseAndReject() {
        assertEquals(new HostPort("127.0.0.1", 4150), HostPort.parse("127.0.0.1:4150"));
        assertEquals(new HostPort("::1", 4150), HostPort.parse("[::1]:4150"));
        assertEquals("[::1]:4150", HostPort.parse("[::1]:4150").toString());
        assertEquals(List.of(new HostPort("a", 1), new HostPort("b", 2)), HostPort.parseList("a:1, b:2"));
        assertThrows(IllegalArgumentException.class, () -> HostPort.parseList(" , "), "a list with no address in it");
        for (String bad : List.of("nsqd", "nsqd:", ":4150", "nsqd:0", "nsqd:65536", "nsqd:http", "::1:4150")) {
            var e = assertThrows(IllegalArgumentException.class, () -> HostPort.parse(bad), bad);
            assertTrue(e.getMessage().contains("'" + bad + "'"), e.getMessage());
        }
    }

    @Test void durations() {
        assertEquals(Duration.ofMillis(250), Converters.duration("250ms"));
        assertEquals(Duration.ofMillis(1500), Converters.duration("1.5s"));
        assertEquals(Duration.ofSeconds(30), Converters.duration("30"));
        assertEquals(Duration.ofMinutes(2), Converters.duration("2m"));
        assertEquals(Duration.ofHours(1), Converters.duration("1h"));
        assertThrows(CommandLine.TypeConversionException.class, () -> Converters.duration("soon"));
        assertThrows(CommandLine.TypeConversionException.class, () -> Converters.duration("-1s"));
        assertEquals("1.5s", Durations.format(Duration.ofMillis(1500)));
        assertEquals("2m5s", Durations.format(Duration.ofSeconds(125)));
        assertEquals("3h0m", Durations.format(Duration.ofHours(3)));
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

    @Test void halfADurationIsExact() {
        assertEquals(Duration.ofMillis(1500), Durations.half(Duration.ofSeconds(3)));
        assertEquals(Duration.ofNanos(500_500_000), Durations.half(Duration.ofMillis(1001)));
        assertEquals(Duration.ZERO, Durations.half(Duration.ofNanos(1)));
        assertEquals(Duration.ofMillis(-1500), Durations.half(Duration.ofSeconds(-3)));
        Duration huge = Duration.ofSeconds(Long.MAX_VALUE, 999_999_999);
        assertEquals(huge.dividedBy(2), Durations.half(huge));
    }

    @Test void journalLinesCarryPriorities() {
        assertEquals("<3>error: boom", Log.line(Log.Level.ERROR, "boom", true));
        assertEquals("<4>warning: slow", Log.line(Log.Level.WARN, "slow", true));
        assertEquals("<6>hello", Log.line(Log.Level.INFO, "hello", true));
        assertTrue(Log.line(Log.Level.INFO, "hello", false).endsWith(" hello"));
    }

    @Test void logLinesFormatAsStringFormatDoes() {
        Object[][] cases = {
            {"plain"}, {"%s and %d", "a", 42}, {"%d of %d, 100%%", 3L, 4}, {"%s", (Object) null}, {"%d", (Object) null},
            {"%.2fs", 1.005}, {"%5d|%-4s|", 7, "x"}, {"%x", 255}, {"%d", 12345678901L}, {"%s %s", "extra", "args", "!"},
            {"%n%s", "newline"}, {"trailing %", "x"}, {"%d", new java.math.BigInteger("12345678901234567890")},
        };
        for (Object[] c : cases) {
            String fmt = (String) c[0];
            Object[] args = java.util.Arrays.copyOfRange(c, 1, c.length);
            Object expected;
            try {
                expected = String.format(java.util.Locale.ROOT, fmt, args);
            } catch (java.util.IllegalFormatException e) {
                expected = e.getClass();
            }
            Object actual;
            try {
                actual = Log.fmt(fmt, args);
            } catch (java.util.IllegalFormatException e) {
                actual = e.getClass();
            }
            assertEquals(expected, actual, fmt);
        }
        assertThrows(java.util.MissingFormatArgumentException.class, () -> Log.fmt("%s %s", "one"));
    }

    @Test void logTimestampsAreLocalTimeToTheMillisecond() {
        java.time.format.DateTimeFormatter hms = java.time.format.DateTimeFormatter.ofPattern("HH:mm:ss.SSS");
        for (long at : new long[] {0, 86_399_999, 1_700_000_000_123L, 1_711_846_800_000L, 1_729_990_800_007L}) {
            java.time.Instant i = java.time.Instant.ofEpochMilli(at);
            assertEquals(hms.format(i.atZone(java.time.ZoneId.systemDefault())), Log.time(at), i.toString());
        }
    }

    /** An annotated command with the shared options, declared in code, as producer.java and wakeup.java have them. */
    @Command(name = "probe")
    static final class Probe implements Callable<Integer>, DeclaredOptions {
        final ConnectionOptions.NsqdTcp tcp = new ConnectionOptions.NsqdTcp();
        final ConnectionOptions.NsqdHttp http = new ConnectionOptions.NsqdHttp();
        final ConnectionOptions.LookupdHttp lookupd = new ConnectionOptions.LookupdHttp();
        @Option(names = "--stream", converter = Converters.Stream.class) String stream;
        @Option(names = "--wait") Duration wait;
        @Option(names = "--fail") boolean fail;

        @Override
        public void declare(CommandSpec spec) { DeclaredOptions.declareAll(spec, tcp, http, lookupd); }

        public Integer call() {
            Cli.require(!"reserved".equals(stream), "stream '%s' is reserved", stream);
            if (fail) throw new IllegalStateException("nsqd went away");
            System.out.println(tcp.nsqd + " " + http.nsqdHttp + " " + lookupd.lookupd);
            return 0;
        }

        /** Lets the env-default test run this in a child JVM with its own environment. */
        public static void main(String[] args) { System.exit(Cli.run(new Probe(), args)); }
    }

    /** Options declared in code act as annotated fields: zero until given, a default, a list replaced, not added to. */
    @Test void declaredOptionsBindLikeAnnotatedFields() {
        final class Declared implements DeclaredOptions {
            int n;
            boolean flag;
            Duration wait;
            List<HostPort> nodes;

            @Override
            public void declare(CommandSpec spec) {
                spec.addOption(DeclaredOptions.option(int.class, v -> n = v, "--n").build());
                spec.addOption(DeclaredOptions.option(boolean.class, v -> flag = v, "--flag").build());
                spec.addOption(DeclaredOptions.option(Duration.class, v -> wait = v, "--wait").defaultValue("2s")
                    .build());
                spec.addOption(DeclaredOptions.list(HostPort.class, v -> nodes = v, "--node").defaultValue("d:1")
                    .build());
            }
        }
        Declared d = new Declared();
        CommandSpec spec = CommandSpec.create();
        d.declare(spec);
        CommandLine cl = Cli.commandLine(spec);
        cl.parseArgs();
        assertEquals(0, d.n);
        assertFalse(d.flag);
        assertEquals(Duration.ofSeconds(2), d.wait);
        assertEquals(List.of(HostPort.parse("d:1")), d.nodes);
        cl.parseArgs("--n", "7", "--flag", "--wait", "150ms", "--node", "a:1,b:2", "--node", "c:3");
        assertEquals(7, d.n);
        assertTrue(d.flag);
        assertEquals(Duration.ofMillis(150), d.wait);
        assertEquals(List.of(HostPort.parse("a:1"), HostPort.parse("b:2"), HostPort.parse("c:3")), d.nodes);
        assertEquals(2, InProcess.run(spec, "--n", "seven").code(), "a bad value is bad usage");
    }

    @Test void exitCodesAndOneLineErrors() {
        assertEquals(2, InProcess.run(new Probe(), "--nsqd", "nowhere").code());
        assertEquals(2, InProcess.run(new Probe(), "--stream", "no spaces").code());
        assertEquals(2, InProcess.run(new Probe(), "--wait", "later").code());
        assertEquals(2, InProcess.run(new Probe(), "--stream", "reserved").code());
        assertEquals(2, InProcess.run(new Probe(), "--no-such-option").code());
        assertEquals(1, InProcess.run(new Probe(), "--fail").code());
        InProcess bad = InProcess.run(new Probe(), "--stream", "a/b");
        assertEquals(2, bad.code());
        assertTrue(bad.firstErr().contains("'a/b'") && bad.firstErr().contains("^[.a-zA-Z0-9_-]+"), bad.firstErr());
    }

    @Test void addressesDefaultFromEnvironment(@TempDir Path dir) throws Exception {
        List<String> cmd = Spawned.java("CliTest$Probe");
        Spawned defaults = Spawned.start(dir, cmd, Map.of());
        Spawned fromEnv = Spawned.start(dir, cmd, Map.of("NSQD_TCP_ADDRESS", "n1:4150,n2:4150",
            "NSQD_HTTP_ADDRESS", "n1:4151", "NSQLOOKUPD_HTTP_ADDRESS", "l1:4161"));
        try {
            assertEquals(0, defaults.waitFor(Duration.ofSeconds(30)), defaults.stderr());
            // The test JVM's own environment must not carry these; say so if it does.
            if (System.getenv("NSQD_TCP_ADDRESS") == null) {
                assertEquals("[127.0.0.1:4150] [127.0.0.1:4151] null", defaults.stdout().trim());
            }
            assertEquals(0, fromEnv.waitFor(Duration.ofSeconds(30)), fromEnv.stderr());
            assertEquals("[n1:4150, n2:4150] [n1:4151] [l1:4161]", fromEnv.stdout().trim());
        } finally {
            defaults.kill();
            fromEnv.kill();
        }
    }
}
