import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import nsq.http.NsqHttp;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The rest of BadInputTest's table, as processes: addresses that answer but are the wrong port of
 * a real nsqd (exit 1 at run time, one line, no retry loop), inputs that live only in the
 * environment (LISTEN_PID/LISTEN_FDS without a socket on fd 3, env-var defaults), and the Makefile,
 * which runs the scripts and must pass their one line through. Each row is one process.
 */
@Tag("process")
class BadInputProcessTest {
    @RegisterExtension final NsqFixture nsq = new NsqFixture();
    static final Duration BOUND = Duration.ofSeconds(60);

    record Row(String name, List<String> command, Map<String, String> env, int code, List<String> mentions) {}

    static List<String> java(String main, String... args) { return Spawned.java(main, args); }

    /** `sh -c` with LISTEN_PID set to the pid the JVM will have (exec keeps it) and {@code redirect} applied. */
    static List<String> activated(String redirect, List<String> command) {
        List<String> cmd = new ArrayList<>(List.of("sh", "-c", "LISTEN_PID=$$ LISTEN_FDS=1 exec \"$0\" \"$@\""
            + redirect));
        cmd.addAll(command);
        return cmd;
    }

    /** The make rows check stderr line by line: a first packaging's lines are not the tools'. */
    @BeforeAll static void packaged() throws Exception { Packaged.ensure(); }

    @Test void wrongPortsEnvironmentAndMakefile() throws Exception {
        String tcp = nsq.tcp().toString(), http = nsq.httpAddress().toString();
        List<Row> rows = new ArrayList<>();
        // Pointed at the wrong port of a real nsqd: one line, exit 1, at once.
        rows.add(new Row("consumer --lookupd at nsqd's TCP port", java("consumer", "--lookupd", tcp, "-s", "s", "-g",
            "g"), Map.of(), 1,
            List.of(tcp, "does not answer HTTP")));
        rows.add(new Row("wakeup --nsqd-http at nsqd's TCP port", java("wakeup", "--nsqd-http", tcp, "--socket-dir",
            nsq.dir().toString()),
            Map.of(), 1, List.of(tcp, "does not answer HTTP")));
        rows.add(new Row("wakeup --lookupd at nsqd's TCP port", java("wakeup", "--lookupd", tcp, "--socket-dir",
            nsq.dir().toString()),
            Map.of(), 1, List.of(tcp, "does not answer HTTP")));
        rows.add(new Row("consumer --nsqd at nsqd's HTTP port", java("consumer", "--nsqd", http, "-s", "s", "-g", "g"),
            Map.of(), 1,
            List.of(http, "not nsqd's TCP port")));
        // Only in the environment.
        List<String> consumer = java("consumer", "--nsqd", tcp, "-s", "s", "-g", "g");
        rows.add(new Row("LISTEN_FDS=1, fd 3 not open", activated(" 3<&-", consumer), Map.of(), 2,
            List.of("LISTEN_FDS=1", "fd 3")));
        rows.add(new Row("LISTEN_FDS=1, fd 3 a file", activated(" 3</dev/null", consumer), Map.of(), 2,
            List.of("LISTEN_FDS=1", "fd 3 is /dev/null, not a socket")));
        rows.add(new Row("TIMEOUT=soon", consumer, Map.of("TIMEOUT", "soon"), 2, List.of("'soon'", "not a duration")));
        rows.add(new Row("MAX_IN_FLIGHT=0", consumer, Map.of("MAX_IN_FLIGHT", "0"), 2, List.of("--max-in-flight 0",
            "1 to 100000")));
        rows.add(new Row("MQUEUE_WAKE_TIMEOUT=600h", java("wakeup", "--nsqd-http", http), Map.of("MQUEUE_WAKE_TIMEOUT",
            "600h"), 2,
            List.of("--wake-timeout 600h", "must be 1ms to 10m")));
        // Through make: its own "Error 2" after the script's line.
        Map<String, String> nsqdEnv = Map.of("NSQD_TCP_ADDRESS", tcp, "NSQD_HTTP_ADDRESS", http);
        rows.add(new Row("GOROUTINES=0 make producer", List.of("make", "-s", "producer"), with(nsqdEnv, "STREAM", "s",
            "GOROUTINES", "0"), 2,
            List.of("--threads 0", "1 to 1000")));
        rows.add(new Row("SIZE=2147483647 make producer", List.of("make", "-s", "producer"),
            with(nsqdEnv, "STREAM", "s", "SIZE", "2147483647", "COUNT", "1"), 2, List.of("--size 2147483647",
                "must be 1 to 67108864")));
        rows.add(new Row("TIMEOUT=soon make consumer", List.of("make", "-s", "consumer"), with(nsqdEnv, "STREAM", "s",
            "GROUP", "g", "TIMEOUT", "soon"), 2,
            List.of("'soon'", "not a duration")));
        rows.add(new Row("MQUEUE_DEBOUNCE=2m make wakeup", List.of("make", "-s", "wakeup"), with(nsqdEnv,
            "MQUEUE_DEBOUNCE", "2m",
            "MQUEUE_SOCKET_DIR", nsq.dir().toString()), 2, List.of("--debounce 2m", "must be 0ms to 1m")));
        rows.add(new Row("make systemd-socket-activate-consumer without STREAM", List.of("make", "-s",
            "systemd-socket-activate-consumer"),
            with(nsqdEnv, "SOCKET_DIR", nsq.dir().toString()), 2, List.of("STREAM is required")));
        // Names checked before anything is created: nsqd refused the channel only after the topic existed.
        rows.add(new Row("GROUP=bad/name make systemd-socket-activate-consumer", List.of("make", "-s",
            "systemd-socket-activate-consumer"),
            with(nsqdEnv, "STREAM", "s", "GROUP", "bad/name", "SOCKET_DIR", nsq.dir().toString()), 2,
            List.of("GROUP 'bad/name': invalid group name", "^[.a-zA-Z0-9_-]+(#ephemeral)?$")));
        rows.add(new Row("GROUP with a newline, make systemd-socket-activate-consumer", List.of("make", "-s",
            "systemd-socket-activate-consumer"),
            with(nsqdEnv, "STREAM", "s", "GROUP", "a\nb", "SOCKET_DIR", nsq.dir().toString()), 2,
                List.of("GROUP $'a\\nb': invalid group name")));
        rows.add(new Row("STREAM=ok,bad/name make systemd-socket-activate-consumer", List.of("make", "-s",
            "systemd-socket-activate-consumer"),
            with(nsqdEnv, "STREAM", "ok,bad/name", "SOCKET_DIR", nsq.dir().toString()), 2,
                List.of("STREAM 'bad/name': invalid stream name")));
        // An address list with no address, from the environment.
        rows.add(new Row("NSQD_TCP_ADDRESS=,", java("producer", "-s", "s"), Map.of("NSQD_TCP_ADDRESS", ","), 2,
            List.of("--nsqd (env NSQD_TCP_ADDRESS=',')", "no address in it")));
        // A file we may not read names the reason (as root, only without the capability to read anything).
        Path locked = Files.writeString(nsq.dir().resolve("locked"), "secret\n");
        Files.setPosixFilePermissions(locked, Set.of());
        rows.add(new Row("--auth-secret-file mode 000", unprivileged(java("consumer", "--nsqd", tcp, "-s", "s", "-g",
            "g",
            "--auth-secret-file", locked.toString())), Map.of(), 2, List.of("--auth-secret-file '" + locked
                + "': permission denied")));
        rows.add(new Row("--tls-ca mode 000", unprivileged(java("producer", "--nsqd", tcp, "-s", "s", "--tls-ca",
            locked.toString())),
            Map.of(), 2, List.of("--tls-ca '" + locked + "': permission denied")));

        List<String> failures = new ArrayList<>();
        for (Row r : rows) {
            Spawned p = nsq.spawn(r.command(), r.env());
            int code = p.waitFor(BOUND);
            List<String> err = p.stderr().lines().filter(l -> !l.isBlank()).toList();
            // The error: a usage line ("consumer: ...") for exit 2, the log's error line for exit 1. Info lines
            // before it (what a tool starts doing) and make's own lines around it are not errors.
            List<String> errors = err.stream().filter(l -> r.code() == 2 ? l.matches("^[a-z-]+: .*")
                && !l.startsWith("make: ")
                : l.contains(" error: ")).toList();
            String first = errors.isEmpty() ? "" : errors.get(0);
            List<String> problems = new ArrayList<>();
            if (code != r.code()) problems.add("exit " + code + ", want " + r.code());
            if (errors.size() != 1) problems.add(errors.size() + " error lines");
            for (String m : r.mentions()) if (!first.contains(m)) problems.add("the error line lacks '" + m + "'");
            if (err.stream().anyMatch(l -> l.startsWith("\tat ")
                || l.contains("Exception in thread"))) problems.add("a stack trace");
            if (r.command().get(0).equals("make") && !p.stderr().contains("Error "
                + r.code())) problems.add("make did not pass the exit code on");
            if (!problems.isEmpty()) failures.add(r.name() + ": " + problems + "\n    stderr: "
                + String.join("\n            ", err));
        }
        assertTrue(failures.isEmpty(), failures.size() + " of " + rows.size() + " rows:\n  " + String.join("\n  ",
            failures));
        assertEquals(0, nsq.http().stats().topics() == null ? 0 : nsq.http().stats().topics().size(),
            "nothing half-done: no topic was created");
    }

    /**
     * {@code command} without root's power to read any file (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH), so file modes hold
     * for it.
     */
    static List<String> unprivileged(List<String> command) {
        if (!"root".equals(System.getProperty("user.name"))) return command;
        List<String> cmd = new ArrayList<>(List.of("setpriv", "--inh-caps=-dac_override,-dac_read_search",
            "--bounding-set=-dac_override,-dac_read_search"));
        cmd.addAll(command);
        return cmd;
    }

    /**
     * stdin: a line that has arrived is published at once, though a partial one follows it (it waited
     * for the next line: 12 s in the issue); on SIGTERM everything read so far, the partial line too,
     * is published, exit 0 (it was dropped, and the error blamed nsqd).
     */
    @Test void stdinLinesGoOutAsTheyArriveAndSigtermPublishesThePartialOne() throws Exception {
        nsq.prepare("lines", "g");
        Spawned p = nsq.spawn(java("producer", "-s", "lines", "--nsqd", nsq.tcp().toString(), "-"), Map.of());
        try (OutputStream stdin = p.process.getOutputStream()) {
            stdin.write("line-a\nline-b-part".getBytes(StandardCharsets.UTF_8));
            stdin.flush();
            Await.until("line-a in nsqd while line-b is still partial", BOUND, () -> {
                NsqHttp.ChannelStats c = nsq.channel("lines", "g");
                return c != null && c.depth() == 1;
            });
            p.signal("TERM");
            assertEquals(0, p.waitFor(BOUND), p.stderr());
        }
        try (ChannelReader reader = new ChannelReader(nsq.tcp(), "lines", "g")) {
            List<String> got = reader.take(2, BOUND).stream().map(ChannelReader.Message::text).toList();
            assertEquals(List.of("line-a", "line-b-part"), got, "both lines, the partial one as it was");
        }
        assertTrue(p.stderr().contains("2 acknowledged, 0 not acknowledged"), p.stderr());
        assertTrue(p.stderr().lines().noneMatch(l -> l.contains(" error: ")), "no error: " + p.stderr());
    }

    /**
     * --nsqd on the command line wins over NSQLOOKUPD_HTTP_ADDRESS (it was ignored for it); both on the
     * command line are refused (BadInputTest).
     */
    @Test void commandLineNsqdWinsOverLookupdFromTheEnvironment() throws Exception {
        nsq.prepare("given", "g");
        nsq.publish("given", 1);
        Spawned c = nsq.spawn(java("consumer", "-s", "given", "-g", "g", "--nsqd", nsq.tcp().toString(), "--count",
            "1"),
            Map.of("NSQLOOKUPD_HTTP_ADDRESS", "127.0.0.1:1"));
        assertEquals(0, c.waitFor(BOUND), c.stderr());
        assertEquals("m0", c.stdout().strip(), "read from the nsqd named on the command line");
    }

    /** `consumer | head -1`: stdout goes away; one error line (there were two), exit 1. */
    @Test void consumerIntoHeadSaysOneErrorLine() throws Exception {
        nsq.prepare("head", "g");
        nsq.publish("head", 2000);
        List<String> cmd = new ArrayList<>(List.of("bash", "-c", "\"$@\" | head -1; exit \"${PIPESTATUS[0]}\"",
            "bash"));
        cmd.addAll(java("consumer", "-s", "head", "-g", "g", "--nsqd", nsq.tcp().toString(), "--timeout", "30s"));
        Spawned c = nsq.spawn(cmd, Map.of());
        assertEquals(1, c.waitFor(BOUND), c.stderr());
        assertEquals(1, c.stdout().lines().count(), "head took one line");
        List<String> errors = c.stderr().lines().filter(l -> l.contains(" error: ")).toList();
        assertEquals(1, errors.size(), "one error line: " + c.stderr());
        assertTrue(errors.get(0).contains("cannot write to stdout"), errors.get(0));
    }

    static Map<String, String> with(Map<String, String> base, String... kv) {
        Map<String, String> m = new LinkedHashMap<>(base);
        for (int i = 0; i < kv.length; i += 2) m.put(kv[i], kv[i + 1]);
        return m;
    }
}
