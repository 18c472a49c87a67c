import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
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
        List<String> cmd = new ArrayList<>(List.of("sh", "-c", "LISTEN_PID=$$ LISTEN_FDS=1 exec \"$0\" \"$@\"" + redirect));
        cmd.addAll(command);
        return cmd;
    }

    /** The make rows check stderr line by line: a first packaging's lines are not the tools'. */
    @BeforeAll static void packaged() throws Exception { Packaged.ensure(); }

    @Test void wrongPortsEnvironmentAndMakefile() throws Exception {
        String tcp = nsq.tcp().toString(), http = nsq.httpAddress().toString();
        List<Row> rows = new ArrayList<>();
        // Pointed at the wrong port of a real nsqd: one line, exit 1, at once.
        rows.add(new Row("consumer --lookupd at nsqd's TCP port", java("consumer", "--lookupd", tcp, "-s", "s", "-g", "g"), Map.of(), 1,
            List.of(tcp, "does not answer HTTP")));
        rows.add(new Row("wakeup --nsqd-http at nsqd's TCP port", java("wakeup", "--nsqd-http", tcp, "--socket-dir", nsq.dir().toString()),
            Map.of(), 1, List.of(tcp, "does not answer HTTP")));
        rows.add(new Row("wakeup --lookupd at nsqd's TCP port", java("wakeup", "--lookupd", tcp, "--socket-dir", nsq.dir().toString()),
            Map.of(), 1, List.of(tcp, "does not answer HTTP")));
        rows.add(new Row("consumer --nsqd at nsqd's HTTP port", java("consumer", "--nsqd", http, "-s", "s", "-g", "g"), Map.of(), 1,
            List.of(http, "not nsqd's TCP port")));
        // Only in the environment.
        List<String> consumer = java("consumer", "--nsqd", tcp, "-s", "s", "-g", "g");
        rows.add(new Row("LISTEN_FDS=1, fd 3 not open", activated(" 3<&-", consumer), Map.of(), 2, List.of("LISTEN_FDS=1", "fd 3")));
        rows.add(new Row("LISTEN_FDS=1, fd 3 a file", activated(" 3</dev/null", consumer), Map.of(), 2,
            List.of("LISTEN_FDS=1", "fd 3 is /dev/null, not a socket")));
        rows.add(new Row("TIMEOUT=soon", consumer, Map.of("TIMEOUT", "soon"), 2, List.of("'soon'", "not a duration")));
        rows.add(new Row("MAX_IN_FLIGHT=0", consumer, Map.of("MAX_IN_FLIGHT", "0"), 2, List.of("--max-in-flight 0", "1 to 100000")));
        rows.add(new Row("MQUEUE_WAKE_TIMEOUT=600h", java("wakeup", "--nsqd-http", http), Map.of("MQUEUE_WAKE_TIMEOUT", "600h"), 2,
            List.of("--wake-timeout 600h", "must be 1ms to 10m")));
        // Through make: its own "Error 2" after the script's line.
        Map<String, String> nsqdEnv = Map.of("NSQD_TCP_ADDRESS", tcp, "NSQD_HTTP_ADDRESS", http);
        rows.add(new Row("GOROUTINES=0 make producer", List.of("make", "-s", "producer"), with(nsqdEnv, "STREAM", "s", "GOROUTINES", "0"), 2,
            List.of("--threads 0", "1 to 1000")));
        rows.add(new Row("SIZE=2147483647 make producer", List.of("make", "-s", "producer"),
            with(nsqdEnv, "STREAM", "s", "SIZE", "2147483647", "COUNT", "1"), 2, List.of("--size 2147483647", "must be 1 to 67108864")));
        rows.add(new Row("TIMEOUT=soon make consumer", List.of("make", "-s", "consumer"), with(nsqdEnv, "STREAM", "s", "GROUP", "g", "TIMEOUT", "soon"), 2,
            List.of("'soon'", "not a duration")));
        rows.add(new Row("MQUEUE_DEBOUNCE=2m make wakeup", List.of("make", "-s", "wakeup"), with(nsqdEnv, "MQUEUE_DEBOUNCE", "2m",
            "MQUEUE_SOCKET_DIR", nsq.dir().toString()), 2, List.of("--debounce 2m", "must be 0ms to 1m")));
        rows.add(new Row("make systemd-socket-activate-consumer without STREAM", List.of("make", "-s", "systemd-socket-activate-consumer"),
            with(nsqdEnv, "SOCKET_DIR", nsq.dir().toString()), 2, List.of("STREAM is required")));

        List<String> failures = new ArrayList<>();
        for (Row r : rows) {
            Spawned p = nsq.spawn(r.command(), r.env());
            int code = p.waitFor(BOUND);
            List<String> err = p.stderr().lines().filter(l -> !l.isBlank()).toList();
            // The error: a usage line ("consumer: ...") for exit 2, the log's error line for exit 1. Info lines
            // before it (what a tool starts doing) and make's own lines around it are not errors.
            List<String> errors = err.stream().filter(l -> r.code() == 2 ? l.matches("^[a-z-]+: .*") && !l.startsWith("make: ")
                : l.contains(" error: ")).toList();
            String first = errors.isEmpty() ? "" : errors.get(0);
            List<String> problems = new ArrayList<>();
            if (code != r.code()) problems.add("exit " + code + ", want " + r.code());
            if (errors.size() != 1) problems.add(errors.size() + " error lines");
            for (String m : r.mentions()) if (!first.contains(m)) problems.add("the error line lacks '" + m + "'");
            if (err.stream().anyMatch(l -> l.startsWith("\tat ") || l.contains("Exception in thread"))) problems.add("a stack trace");
            if (r.command().get(0).equals("make") && !p.stderr().contains("Error " + r.code())) problems.add("make did not pass the exit code on");
            if (!problems.isEmpty()) failures.add(r.name() + ": " + problems + "\n    stderr: " + String.join("\n            ", err));
        }
        assertTrue(failures.isEmpty(), failures.size() + " of " + rows.size() + " rows:\n  " + String.join("\n  ", failures));
        assertEquals(0, nsq.http().stats().topics() == null ? 0 : nsq.http().stats().topics().size(), "nothing half-done: no topic was created");
    }

    static Map<String, String> with(Map<String, String> base, String... kv) {
        Map<String, String> m = new LinkedHashMap<>(base);
        for (int i = 0; i < kv.length; i += 2) m.put(kv[i], kv[i + 1]);
        return m;
    }
}
