import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;
import java.util.stream.Stream;
import nsq.Names;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/**
 * Unclean input to the three scripts, in-process, one row each: exit 2 before anything is done,
 * and a first line that names the value and the rule. Every duration and size has an upper bound,
 * so a typo fails here instead of running out of memory, overflowing into "at once" or "never",
 * or hammering a server. The rows that need a running nsqd, a process of their own (signals,
 * LISTEN_FDS) or make are in BadInputProcessTest; together they are the table.
 */
@Tag("unit")
class BadInputTest {
    static final String NOWHERE = "127.0.0.1:1"; // never reached: every row fails before connecting

    /** One row: the command's args, the exit code, and words its first error line must contain. */
    record Row(String tool, List<String> args, int code, List<String> mentions) {
        String name() { return cli.Cli.escape(tool + " " + String.join(" ", args.subList(1, args.size()))); }
    }

    static Path dir, regularFile;
    static final List<Row> ROWS = new ArrayList<>();
    static final TestCerts CERTS = TestCerts.shared();

    static void row(String tool, String args, String... mentions) {
        ROWS.add(new Row(tool, args.isEmpty() ? List.of() : List.of(args.split(" ")), 2, List.of(mentions)));
    }

    /** A row whose arguments are given one by one (a value with a space or a control byte in it). */
    static void rowOf(String tool, List<String> args, String... mentions) {
        List<String> all = new ArrayList<>(List.of(tool));
        all.addAll(args);
        ROWS.add(new Row(tool, all, 2, List.of(mentions)));
    }

    static final String LONG_62 = "s".repeat(62); // a valid stream whose "<stream>.dead" (67) is not

    @BeforeAll static void files() throws Exception {
        dir = Files.createTempDirectory("mq-bad-");
        regularFile = Files.writeString(dir.resolve("not-a-dir"), "x");
        String p = "producer --nsqd " + NOWHERE + " -s s ";
        row("producer", p + "--size 2147483647 --count 1", "--size 2147483647", "must be 1 to 67108864");
        row("producer", p + "--size 0", "--size 0", "at least 1");
        row("producer", p + "--duration 99999999999h --count 3", "'99999999999h'", "365 days");
        row("producer", p + "--duration 10000000h", "'10000000h'", "365 days");
        row("producer", p + "--duration 0", "--duration 0", "positive");
        row("producer", p + "--interval 25h", "--interval 25h", "must be 1ms to 24h");
        row("producer", p + "--interval soon", "'soon'", "not a duration");
        row("producer", p + "--rate 0.00001", "--rate '0.00001'", "at least one message per thread every 24h");
        row("producer", p + "--rate fast", "'fast'", "positive number");
        row("producer", p + "--threads 0", "--threads 0", "1 to 1000");
        row("producer", p + "--threads 1001", "--threads 1001", "1 to 1000");
        row("producer", p + "--count 0", "--count 0", "at least 1");
        row("producer", p + "--payload-keys 100000", "--payload-keys 100000", "must be 0 to 65536");
        row("producer", p + "--batch 0", "--batch 0", "must be 1 to");
        row("producer", p + "--batch 1000000", "--batch 1000000", "must be 1 to 100000");
        row("producer", p + "--defer 2h", "--defer 2h", "at most 1h");
        row("producer", p + "--retry-timeout 48h", "--retry-timeout 48h", "must be 1ms to 24h");
        row("producer", p + "--heartbeat-interval 500ms", "--heartbeat-interval 500ms", "1s to 60s");
        row("producer", p + "--delimiter ab", "'ab'", "one byte");
        row("producer", p + "--size 300 -", "--size with stdin", "the lines are the messages");
        row("producer", p + "x", "'x'", "the only argument is '-'");
        row("producer", p + "--threads 1000 --rate max --payload-keys 60000", "1000 thread(s)", "heap");
        row("producer", "producer --nsqd " + NOWHERE + " -s bad/name", "'bad/name'", "^[.a-zA-Z0-9_-]+");
        row("producer", "producer --nsqd nowhere -s s", "'nowhere'", "HOST:PORT");
        row("producer", "producer --nsqd " + NOWHERE, "--stream", "Missing required option");

        String c = "consumer --nsqd " + NOWHERE + " -s s -g g ";
        row("consumer", c + "--lookupd-interval 0", "--lookupd-interval 0ms", "must be 100ms to 1h");
        row("consumer", c + "--lookupd-interval 2h", "--lookupd-interval 2h", "must be 100ms to 1h");
        row("consumer", c + "--exec-timeout 25h", "--exec-timeout 25h", "must be 1ms to 24h");
        row("consumer", c + "--exec-timeout 0", "--exec-timeout", "more than 0");
        row("consumer", c + "--connect-timeout 2h", "--connect-timeout 2h", "must be 1ms to 1h");
        row("consumer", c + "--drain-timeout 2h", "--drain-timeout 2h", "must be 0ms to 1h");
        row("consumer", c + "--timeout 99999999999h", "'99999999999h'", "365 days");
        row("consumer", c + "--max-in-flight 100001", "--max-in-flight 100001", "1 to 100000");
        row("consumer", c + "--concurrency 1001", "--concurrency 1001", "1 to 1000");
        row("consumer", c + "--connections 0", "--connections 0", "1 to 16");
        row("consumer", c + "--max-attempts 70000", "--max-attempts 70000", "0 (forever) to 65535");
        row("consumer", c + "--expect 0", "--expect 0", "at least 1");
        row("consumer", c + "--backoff 1s/2h", "'1s/2h'", "MAX at most 1h");
        row("consumer", c + "--max-req-timeout 0", "--max-req-timeout", "more than 0");
        row("consumer", c + "--heartbeat-interval 2m", "--heartbeat-interval 2m", "1s to 60s");
        row("consumer", c + "--format xml", "xml", "raw");
        row("consumer", "consumer --nsqd " + NOWHERE + " -s s -g x#other", "'x#other'", "#ephemeral");

        // Lists with no address (or no value) in them: "/ by zero" once, or quietly "not given".
        row("producer", "producer --nsqd , -s s", "--nsqd ','", "no address in it", "HOST:PORT");
        row("producer", "producer --nsqd " + NOWHERE + " -s s --groups ,", "--groups ','", "no value in it");
        row("consumer", "consumer --nsqd " + NOWHERE + " --lookupd , -s s -g g", "--lookupd ','", "no address in it");
        row("wakeup", "wakeup --nsqd-http ,, --socket-dir " + dir, "--nsqd-http ',,'", "no address in it");
        // --nsqd and --lookupd both given: one of them would be ignored.
        row("consumer", "consumer --nsqd " + NOWHERE + " --lookupd 127.0.0.1:2 -s s -g g", "--nsqd '" + NOWHERE
            + "' with --lookupd '127.0.0.1:2'",
            "give one of them");
        // Dead letters into a stream this consumer reads: each would come back and fail again, forever.
        row("consumer", "consumer --nsqd " + NOWHERE + " -s loop -g g --exec false --max-attempts 1 --dead-letter loop",
            "dead-letter stream 'loop' for stream 'loop'", "a stream this consumer reads");
        row("consumer", "consumer --nsqd " + NOWHERE + " -s a,a.dead -g g --exec false",
            "dead-letter stream 'a.dead' for stream 'a'",
            "a stream this consumer reads");
        // The dead-letter name is a rule only where dead letters can happen (--exec): see deadLetterNamesOnlyWithExec.
        row("consumer", "consumer --nsqd " + NOWHERE + " -s " + LONG_62 + " -g g --exec false", "'" + LONG_62
            + ".dead'", "not a valid name");
        // Values echoed in errors: quoted, control bytes escaped, one line whatever the input.
        rowOf("consumer", List.of("--nsqd", NOWHERE, "-s", "a\nb", "-g", "g"), "'a\\nb'", "^[.a-zA-Z0-9_-]+");
        rowOf("consumer", List.of("--nsqd", NOWHERE, "-s", "s", "-g", "\u001b[31mred"), "'\\e[31mred'",
            "invalid group name");
        rowOf("producer", List.of("--nsqd", NOWHERE, "-s", "s", "--compression", "x\r\u202eevil"),
            "--compression 'x\\r\\u202eevil'");
        rowOf("producer", List.of("--nsqd", "host:1\n2", "-s", "s"), "'host:1\\n2'", "HOST:PORT");
        // Files an option names: read with a bound, and the reason named when they cannot be read.
        Path missing = dir.resolve("missing.pem");
        row("consumer", c + "--tls-ca /dev/zero", "--tls-ca '/dev/zero'", "too large: more than 1 MiB");
        row("producer", p + "--auth-secret-file /dev/zero", "--auth-secret-file '/dev/zero'",
            "too large: more than 64 KiB");
        row("consumer", c + "--tls-ca " + missing, "--tls-ca '" + missing + "'", "no such file");
        row("producer", p + "--auth-secret-file " + missing, "--auth-secret-file '" + missing + "'", "no such file");
        row("consumer", c + "--tls-ca " + dir, "--tls-ca '" + dir + "'", "a directory");
        row("producer", p + "--auth-secret-file " + dir, "--auth-secret-file '" + dir + "'", "a directory");
        row("consumer", c + "--tls-cert " + regularFile + "/x --tls-key " + CERTS.clientKey, "--tls-cert '"
            + regularFile + "/x'", "not a directory");
        // A client key that is not its certificate's: at start, naming both files (nsqd would only refuse the
        // handshake).
        row("producer", p + "--tls-cert " + CERTS.clientCert + " --tls-key " + CERTS.otherClientKey,
            "--tls-key '" + CERTS.otherClientKey + "' does not match --tls-cert '" + CERTS.clientCert + "'",
                "another EC key");
        row("consumer", c + "--tls-cert " + CERTS.rsaClientCert + " --tls-key " + CERTS.clientKey,
            "--tls-key '" + CERTS.clientKey + "' does not match --tls-cert '" + CERTS.rsaClientCert + "'",
                "the key is EC, the certificate's RSA");

        String w = "wakeup --nsqd-http " + NOWHERE + " --socket-dir " + dir + " ";
        row("wakeup", w + "--wake-timeout 600h", "--wake-timeout 600h", "must be 1ms to 10m");
        row("wakeup", w + "--wake-timeout 0ms", "--wake-timeout 0ms", "must be 1ms to 10m");
        row("wakeup", w + "--debounce 99999999999h", "'99999999999h'", "365 days");
        row("wakeup", w + "--debounce 2m", "--debounce 2m", "must be 0ms to 1m");
        row("wakeup", w + "--scan-interval 5ms", "--scan-interval 5ms", "must be 10ms to 1h");
        row("wakeup", w + "--max-wakes 0", "--max-wakes 0", "must be 1 to 1000");
        row("wakeup", w + "--max-wakes 5000", "--max-wakes 5000", "must be 1 to 1000");
        row("wakeup", w + "--max-wakes many", "'many'", "--max-wakes");
        row("consumer", "consumer --nsqd " + NOWHERE + " -s s -g g --backlog-linger 2h", "--backlog-linger 2h",
            "must be 0ms to 1h");
        row("wakeup", w + "--scan-interval 2h", "--scan-interval 2h", "must be 10ms to 1h");
        row("wakeup", "wakeup --nsqd-http " + NOWHERE + " --socket-dir " + regularFile, regularFile.toString(),
            "not a directory");
        row("wakeup", "wakeup --nsqd-http nohost", "'nohost'", "HOST:PORT");

        // Metrics: the address resolved once at start, the prefix a statsd name can hold, the interval bounded.
        row("producer", p + "--statsd-address nohost.invalid:8125", "--statsd-address 'nohost.invalid:8125'",
            "cannot resolve 'nohost.invalid'");
        row("producer", p + "--statsd-address 127.0.0.1", "'127.0.0.1'", "HOST:PORT");
        row("producer", p + "--statsd-address 127.0.0.1:0", "'127.0.0.1:0'", "port from 1 to 65535");
        row("producer", p + "--statsd-interval 0", "--statsd-interval 0ms", "must be 100ms to 1h");
        row("consumer", c + "--statsd-address nohost.invalid:8125", "--statsd-address 'nohost.invalid:8125'",
            "cannot resolve");
        row("consumer", c + "--statsd-prefix a:b", "--statsd-prefix 'a:b'", "letters, digits");
        row("consumer", c + "--statsd-prefix " + "p".repeat(201), "--statsd-prefix 'ppp", "at most 200 characters");
        row("consumer", c + "--statsd-interval 2h", "--statsd-interval 2h", "must be 100ms to 1h");
        rowOf("consumer", List.of("--nsqd", NOWHERE, "-s", "s", "-g", "g", "--statsd-prefix", "a\nb|c"),
            "--statsd-prefix 'a\\nb|c'", "statsd splits");
        row("wakeup", w + "--statsd-address nohost.invalid:1", "--statsd-address 'nohost.invalid:1'", "cannot resolve");
        row("wakeup", w + "--statsd-interval 50ms", "--statsd-interval 50ms", "must be 100ms to 1h");
        row("wakeup", w + "--statsd-prefix %d", "--statsd-prefix '%d'", "letters, digits");
    }

    @AfterAll static void cleanup() throws Exception {
        Files.deleteIfExists(regularFile);
        Files.deleteIfExists(dir);
    }

    static Object command(String tool) {
        return switch (tool) {
            case "producer" -> new producer();
            case "consumer" -> new consumer();
            case "wakeup" -> new wakeup();
            default -> throw new IllegalArgumentException(tool);
        };
    }

    @TestFactory Stream<DynamicTest> everyRowIsExit2WithOneLineNamingTheValueAndTheRule() {
        assertTrue(ROWS.size() >= 70, "the table has its rows: " + ROWS.size());
        return ROWS.stream().map(r -> DynamicTest.dynamicTest(r.name(), () -> check(r, () -> {
            List<String> args = new ArrayList<>(r.args());
            args.remove(0); // the tool's name
            return InProcess.run(command(r.tool()), args.toArray(String[]::new));
        })));
    }

    static void check(Row r, Supplier<InProcess> run) {
        InProcess res = run.get();
        assertEquals(r.code(), res.code(), r.name() + ": " + res.err());
        for (String m : r.mentions()) assertTrue(res.firstErr().contains(m), r.name() + ": first line should name '" + m
            + "': " + res.err());
        // One line, or picocli's line plus its "Try --help" hint; never a stack trace.
        List<String> lines = res.err().lines().filter(l -> !l.isBlank()).toList();
        assertTrue(lines.size() == 1 || lines.size() == 2 && lines.get(1).startsWith("Try '"), r.name() + ": "
            + res.err());
        assertEquals("", res.out(), "nothing on stdout");
        assertTrue(res.err().chars().noneMatch(ch -> ch < 0x20 && ch != '\n' || ch == 0x7f || ch == 0x202e),
            r.name() + ": a control byte reached stderr raw: " + cli.Cli.escape(res.err()));
    }

    /**
     * "<stream>.dead" must be a valid name, and not a stream read, only when a dead letter can
     * happen (--exec, --max-attempts above 0): a 62-character stream is fine to print.
     */
    @Test void deadLetterNamesAreRulesOnlyWhereDeadLettersCanHappen() {
        for (String[] args : List.of(
                new String[] {"-s", LONG_62, "-g", "v"},
                new String[] {"-s", LONG_62, "-g", "v", "--exec", "true", "--max-attempts", "0"},
                new String[] {"-s", "loop", "-g", "v", "--dead-letter", "loop"})) {
            List<String> all = new ArrayList<>(List.of(args));
            all.addAll(List.of("--nsqd", NOWHERE, "--connect-timeout", "200ms"));
            InProcess r = InProcess.run(new consumer(), all.toArray(String[]::new));
            assertEquals(1, r.code(), String.join(" ", all) + ": past the checks, it fails only to connect: "
                + r.err());
        }
    }

    /**
     * scripts/socket-activate-consumer checks names in bash before it creates anything: with nsqd's rule, as Names
     * states it.
     */
    @Test void theSocketActivationScriptChecksNamesByNsqdsRule() throws Exception {
        String script = Files.readString(NsqBinaries.repoRoot().resolve("scripts/socket-activate-consumer"));
        String regex = Names.RULE.replaceAll("^NSQ names match (\\S+) and are .*$", "$1");
        assertTrue(script.contains("name_rule='" + regex + "'"), "the script's name_rule is " + regex);
        assertTrue(script.contains("NSQ names match $name_rule and are 1-64 characters including the suffix"),
            "and its words are Names.RULE's");
        assertEquals(Names.RULE, "NSQ names match " + regex + " and are 1-64 characters including the suffix");
    }
}
