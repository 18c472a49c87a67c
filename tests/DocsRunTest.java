import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The docs' commands against the tools as built: the blocks marked `<!-- check: run -->` run in bash
 * on a private nsqd and exit 0; every option a command line gives a tool is one that tool's --help
 * lists; every option named in running text is one of ours, nsqd's or of a program named beside it.
 */
@Tag("process")
class DocsRunTest {
    @RegisterExtension final NsqFixture nsq = new NsqFixture();
    static final Path ROOT = NsqBinaries.repoRoot();
    static final Duration BOUND = Duration.ofMinutes(3);
    static final Pattern OPTION = Pattern.compile("(?<![\\w-])(--[a-z][a-z0-9-]*)");
    /** A tool on a command line: `producer ...`, `./jbang consumer.java ...`, `bin/mqueue wakeup ...`, an example. */
    static final Pattern TOOL = Pattern.compile(
        "(?:^|[\\s;&|(])(?:\\./jbang\\s+|jbang\\s+|bin/mqueue\\s+)?(?:\\./|examples/)?"
            + "(producer|consumer|wakeup|hello|sum|pipe)(?:\\.java|@\\S*)?(?=\\s|$)");
    /** Options of programs the docs show beside ours: JBang's, systemctl's, the JVM's, make's, bench/Bench.java's. */
    static final Set<String> OTHERS = Set.of("--pairs", "--fresh", "--insecure", "--offline", "--now",
        "--sun-misc-unsafe-memory-access",
        "--no-print-directory", "--boot", "--register", "--keep-unit", "--bind-ro");
    static final Map<String, Set<String>> HELP = new HashMap<>();

    @BeforeAll static void helps() throws Exception {
        Packaged.ensure();
        for (String tool : List.of("producer", "consumer", "wakeup")) HELP.put(tool, help(List.of("bin/mqueue", tool,
            "--help")));
        HELP.put("wakeup status", help(List.of("bin/mqueue", "wakeup", "status", "--help")));
        HELP.put("nsqd", help(List.of(NsqBinaries.path("nsqd").toString(), "--help")));
        // A handler script parses the consumer's options, and its own: examples/sum.java's --field.
        Set<String> handler = new LinkedHashSet<>(HELP.get("consumer"));
        handler.add("--field");
        for (String example : List.of("hello", "sum", "pipe")) HELP.put(example, handler);
    }

    static Set<String> help(List<String> command) throws Exception {
        Process p = new ProcessBuilder(command).directory(ROOT.toFile()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertTrue(p.waitFor(BOUND.toSeconds(), java.util.concurrent.TimeUnit.SECONDS), command + " exits");
        Set<String> options = new LinkedHashSet<>();
        Matcher m = OPTION.matcher(out);
        while (m.find()) options.add(m.group(1));
        // Go's flag package: -name, also given as --name
        Matcher go = Pattern.compile("(?m)^\\s+-([a-z][a-z0-9-]*)").matcher(out);
        while (go.find()) options.add("--" + go.group(1));
        assertTrue(options.size() > 3, command + " lists its options:\n" + out);
        return options;
    }

    /** The shell lines of a block, continuation lines joined, comments cut. */
    static List<String> commands(DocsTest.Block b) {
        List<String> out = new ArrayList<>();
        StringBuilder cur = new StringBuilder();
        for (String l : b.lines()) {
            if (l.endsWith("\\")) { cur.append(l, 0, l.length() - 1).append(' '); continue; }
            cur.append(l);
            String line = cur.toString();
            cur.setLength(0);
            int hash = line.indexOf(" #");
            out.add(hash >= 0 ? line.substring(0, hash) : line);
        }
        return out;
    }

    @Test void everyOptionACommandGivesAToolIsInItsHelp() throws IOException {
        List<String> bad = new ArrayList<>();
        int checked = 0;
        for (DocsTest.Block b : DocsTest.shellBlocks()) {
            for (String line : commands(b)) {
                Matcher tool = TOOL.matcher(line);
                if (!tool.find()) continue;
                String name = tool.group(1);
                String rest = line.substring(tool.end()).split("\\||;|&&|<|>|\\)")[0];
                if (name.equals("wakeup") && rest.trim().startsWith("status")) name = "wakeup status";
                Matcher o = OPTION.matcher(rest);
                while (o.find()) {
                    checked++;
                    if (!HELP.get(name).contains(o.group(1))) bad.add(b.where() + ": " + name + " has no " + o.group(1)
                        + " (" + line.trim() + ")");
                }
            }
        }
        assertTrue(checked >= 20, "options checked: " + checked);
        assertEquals(List.of(), bad);
    }

    @Test void everyOptionTheTextNamesExists() throws IOException {
        Set<String> known = new LinkedHashSet<>(OTHERS);
        HELP.values().forEach(known::addAll);
        Set<String> bad = new LinkedHashSet<>();
        for (Path page : DocsTest.pages()) {
            Matcher code = Pattern.compile("`([^`\\n]+)`").matcher(Files.readString(page));
            while (code.find()) {
                Matcher o = OPTION.matcher(code.group(1));
                while (o.find()) if (!known.contains(o.group(1))) bad.add(ROOT.relativize(page) + ": " + o.group(1));
            }
        }
        assertEquals(Set.of(), bad);
    }

    @Test void theBlocksMarkedRunRunOnAPrivateNsqd() throws Exception {
        List<DocsTest.Block> run = new ArrayList<>();
        for (DocsTest.Block b : DocsTest.shellBlocks()) if (b.marker().contains("check: run -->")) run.add(b);
        assertTrue(run.size() >= 3, "blocks to run: " + run.size());
        Path sockets = Files.createTempDirectory("mq-docs-");
        try {
            for (DocsTest.Block b : run) {
                Map<String, String> env = Map.of("NSQD_TCP_ADDRESS", nsq.tcp().toString(), "NSQD_HTTP_ADDRESS",
                    nsq.httpAddress().toString(), "MQUEUE_SOCKET_DIR", sockets.toString());
                Spawned sh = nsq.spawn(List.of("bash", "-euo", "pipefail", "-c", b.text()), env);
                int rc = sh.waitFor(BOUND);
                assertEquals(0, rc, b.where() + " exits 0:\n" + b.text() + "\nstdout:\n" + sh.stdout() + "\nstderr:\n"
                    + sh.stderr());
            }
        } finally {
            try (var files = Files.list(sockets)) {
                for (Path p : files.toList()) Files.deleteIfExists(p);
            }
            Files.deleteIfExists(sockets);
        }
    }

    static boolean listening(int port) {
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress("127.0.0.1", port), 200);
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    /**
     * The README's walkthrough on NSQ's default ports, bounded: `make up`, the producer creating
     * groups 1 and 2, each group's consumer getting every event, `make down` stopping exactly that.
     */
    @Test void theWalkthroughOnNsqsDefaultPorts() throws Exception {
        List<Integer> ports = List.of(4150, 4151, 4160, 4161, 4171);
        for (int port : ports) Assumptions.assumeFalse(listening(port), "port " + port
            + " is taken; the walkthrough needs NSQ's defaults");
        Map<String, String> env = Map.of("STREAM", "walkthrough", "NSQ_LISTEN", "127.0.0.1");
        try {
            assertEquals(0, make(env, "up").waitFor(BOUND));
            for (int port : ports) assertTrue(listening(port), "make up listens on " + port);
            Map<String, String> produce = new HashMap<>(env);
            produce.putAll(Map.of("STREAM_GROUPS", "1,2", "COUNT", "3", "INTERVAL", "10ms"));
            assertEquals(0, make(produce, "producer").waitFor(BOUND));
            for (String group : List.of("1", "2")) {
                Map<String, String> consume = new HashMap<>(env);
                consume.putAll(Map.of("GROUP", group, "TIMEOUT", "5", "COUNT", "3"));
                Spawned c = make(consume, "consumer");
                assertEquals(0, c.waitFor(BOUND), c.stderr());
                assertEquals(3, c.stdout().lines().count(), "group " + group + " got every event:\n" + c.stdout());
            }
        } finally {
            assertEquals(0, make(env, "down").waitFor(BOUND));
        }
        for (int port : ports) assertTrue(!listening(port), "make down stopped what listened on " + port);
    }

    Spawned make(Map<String, String> vars, String target) throws IOException {
        List<String> cmd = new ArrayList<>(List.of("env", "-u", "MAKELEVEL", "-u", "MAKEFLAGS", "-u", "MFLAGS",
            "-u", "NSQD_TCP_ADDRESS", "-u", "NSQD_HTTP_ADDRESS", "make", "-s", target));
        return nsq.spawn(cmd, vars);
    }
}
