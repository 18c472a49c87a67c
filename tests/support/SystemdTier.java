import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.extension.ConditionEvaluationResult;
import org.junit.jupiter.api.extension.ExecutionCondition;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * What the real-systemd tier's classes share: whether it can run here, nsqd on this machine's loopback
 * (the containers share its network), a group's env file as an admin writes it, and counting what the
 * consumers wrote to the journal.
 */
final class SystemdTier {
    private SystemdTier() {}

    /** Runs a tier class only where systemd can be booted; elsewhere the class is skipped saying why. */
    static final class Available implements ExecutionCondition {
        private static volatile String why;
        private static volatile boolean checked;

        @Override
        public ConditionEvaluationResult evaluateExecutionCondition(ExtensionContext context) {
            synchronized (Available.class) {
                if (!checked) {
                    why = Nspawn.unavailable();
                    checked = true;
                }
            }
            return why == null ? ConditionEvaluationResult.enabled("systemd-nspawn boots systemd here")
                : ConditionEvaluationResult.disabled("no systemd as PID 1 here: " + why);
        }
    }

    /** nsqd on free loopback ports with its data in {@code dir}, started and answering /ping. */
    static NsqFixture.ProcessDaemon nsqd(Path dir, String name, String... flags) throws IOException,
            InterruptedException {
        int tcp = NsqFixture.freePort(), http = NsqFixture.freePort();
        Path data = Files.createDirectories(dir.resolve(name));
        List<String> cmd = new ArrayList<>(List.of(NsqBinaries.path("nsqd").toString(), "--tcp-address=127.0.0.1:"
            + tcp,
            "--http-address=127.0.0.1:" + http, "--data-path=" + data, "--broadcast-address=127.0.0.1"));
        cmd.addAll(List.of(flags));
        NsqFixture.ProcessDaemon d = new NsqFixture.ProcessDaemon(name, data, http, cmd);
        d.tcpPort = tcp;
        d.start();
        return d;
    }

    /**
     * /etc/mqueue/GROUP.env as the README has an admin write it: example.env with the stream, nsqd and these settings.
     */
    static String groupEnv(NsqFixture.Daemon nsqd, String stream, Map<String, String> settings) throws IOException {
        StringBuilder env = new StringBuilder();
        for (String line : Files.readAllLines(Nspawn.REPO.resolve("systemd/example.env"))) {
            String key = line.contains("=") && !line.startsWith("#") ? line.substring(0, line.indexOf('=')) : null;
            if ("STREAM".equals(key)) line = "STREAM=" + stream;
            else if ("NSQD_TCP_ADDRESS".equals(key)) line = "NSQD_TCP_ADDRESS=" + nsqd.tcp();
            else if ("NSQD_HTTP_ADDRESS".equals(key)) line = "NSQD_HTTP_ADDRESS=" + nsqd.httpAddress();
            else if (key != null && settings.containsKey(key)) continue; // set below
            env.append(line).append('\n');
        }
        settings.forEach((k, v) -> env.append(k).append('=').append(v).append('\n'));
        return env.toString();
    }

    /** The distinct lines that start with {@code prefix} (message bodies a consumer printed). */
    static Set<String> bodies(List<String> lines, String prefix) {
        Set<String> out = new LinkedHashSet<>();
        for (String l : lines) if (l.startsWith(prefix)) out.add(l);
        return out;
    }

    /** How often systemd started {@code service} this boot (its "Started <unit>" lines). */
    static long starts(Nspawn host, String service) throws IOException, InterruptedException {
        return host.journalctl("--boot", "--unit=" + service,
            "--output=cat").lines().filter(l -> l.startsWith("Started " + service)).count();
    }

    /** The consumer lines of one run's end: "no message for ...: exiting". */
    static long idleExits(List<String> lines) {
        return lines.stream().filter(l -> l.startsWith("no message for ") && l.endsWith(": exiting")).count();
    }
}
