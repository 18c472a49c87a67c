import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import nsq.HostPort;
import nsq.NsqConfig;
import nsq.http.NsqHttp;
import nsq.publish.Publisher;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;
import util.Json;

/**
 * Real NSQ daemons for one test: nsqd (one or more, optionally behind nsqlookupd) on free
 * loopback ports with a temp data dir, plus any process the test spawns. Everything is stopped
 * after the test; a failed test gets the daemons' logs printed. Without local binaries but with
 * a Docker engine, a single nsqd runs in a container (Testcontainers) and fault injection is skipped. Register it per
 * test:
 * {@code @RegisterExtension final NsqFixture nsq = new NsqFixture().flags("--msg-timeout=2s");}
 */
final class NsqFixture implements BeforeEachCallback, AfterEachCallback {
    /** For what NsqHttp does not ask nsqd (the clients of a channel). */
    static final HttpClient HTTP = HttpClient.newHttpClient();

    private final List<String> flags = new ArrayList<>();
    private NsqConfig client = NsqConfig.defaults();
    private int nsqdCount = 1;
    private String nsqdRelease; // null: v1.3 from NsqBinaries
    private boolean withLookupd;
    private Path dir;
    private Daemon lookupd;
    private final List<Daemon> nsqds = new ArrayList<>();
    private final List<Spawned> spawned = new CopyOnWriteArrayList<>();

    /** Extra nsqd flags, e.g. "--msg-timeout=2s". */
    NsqFixture flags(String... more) { flags.addAll(Arrays.asList(more)); return this; }

    /**
     * How the fixture's own helpers (publish, stats, /ping) talk to nsqd, e.g. with TLS when it
     * runs with --tls-required; their HTTP follows nsqd to its HTTPS port.
     */
    NsqFixture client(NsqConfig config) { client = config; return this; }

    NsqConfig client() { return client; }

    /** Also start nsqlookupd and register every nsqd with it. */
    NsqFixture withLookupd() { withLookupd = true; return this; }

    /**
     * nsqd of this older release instead (e.g. "v1.2.1"), built once into .nsq/RELEASE/bin (see NsqBinaries.release).
     */
    NsqFixture nsqdRelease(String release) { nsqdRelease = release; return this; }

    /** Start {@code n} nsqd (all on loopback, each with its own data dir). */
    NsqFixture nsqds(int n) { nsqdCount = n; return this; }

    @Override
    public void beforeEach(ExtensionContext context) throws Exception {
        dir = Files.createTempDirectory("mqueue-test-");
        if (NsqBinaries.find("nsqd") == null && NsqContainer.dockerAvailable()) {
            // No local binaries but a Docker engine: nsqd in a container (no fault injection there).
            Assumptions.assumeTrue(!withLookupd && nsqdCount == 1 && nsqdRelease == null,
                "lookupd, several nsqd and older releases need local binaries");
            nsqds.add(NsqContainer.start(flags));
            return;
        }
        NsqBinaries.require();
        if (withLookupd) {
            int tcp = freePort(), http = freePort();
            lookupd = new ProcessDaemon("nsqlookupd", dir.resolve("nsqlookupd"), http, List.of(
                NsqBinaries.path("nsqlookupd").toString(),
                "--tcp-address=127.0.0.1:" + tcp, "--http-address=127.0.0.1:" + http,
                "--broadcast-address=127.0.0.1"));
            ((ProcessDaemon) lookupd).tcpPort = tcp;
            lookupd.start();
        }
        for (int i = 0; i < nsqdCount; i++) {
            int tcp = freePort(), http = freePort();
            Path data = dir.resolve("nsqd" + i);
            Files.createDirectories(data);
            Path binary = nsqdRelease != null ? NsqBinaries.release(nsqdRelease) : NsqBinaries.path("nsqd");
            List<String> cmd = new ArrayList<>(List.of(binary.toString(),
                "--tcp-address=127.0.0.1:" + tcp, "--http-address=127.0.0.1:" + http,
                "--data-path=" + data, "--broadcast-address=127.0.0.1"));
            if (lookupd != null) cmd.add("--lookupd-tcp-address=" + lookupd.tcp());
            // With a certificate nsqd also listens on HTTPS, by default on 0.0.0.0:4152: a port of its own instead.
            if (flags.stream().anyMatch(f -> f.startsWith("--tls-cert"))) cmd.add("--https-address=127.0.0.1:"
                + freePort());
            cmd.addAll(flags);
            ProcessDaemon d = new ProcessDaemon("nsqd" + i, data, http, cmd);
            d.tcpPort = tcp;
            d.client = client;
            nsqds.add(d);
            d.start();
        }
    }

    @Override
    public void afterEach(ExtensionContext context) throws Exception {
        boolean failed = context.getExecutionException().isPresent();
        for (Spawned p : spawned) {
            if (failed) p.printOutput();
            p.kill();
        }
        List<Daemon> all = new ArrayList<>(nsqds);
        if (lookupd != null) all.add(lookupd);
        for (Daemon d : all) {
            d.stop();
            if (failed) d.printLog();
        }
        try (Stream<Path> files = Files.walk(dir)) {
            files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
    }

    // ---- what most tests do with the first nsqd

    /** MPUB of these bodies (UTF-8) to the first nsqd. */
    void publish(String topic, List<String> bodies) throws IOException { nsqd().publish(topic, bodies); }

    /** {@code n} messages "m0" .. to the first nsqd. */
    void publish(String topic, int n) throws IOException { nsqd().publish(topic, bodies("m", n)); }

    /** Topic and channels first, so each group keeps what is published before it connects. */
    void prepare(String topic, String... groups) throws IOException { nsqd().prepare(topic, groups); }

    /** The channel's stats on the first nsqd; null while it does not exist. */
    NsqHttp.ChannelStats channel(String topic, String group) throws IOException { return nsqd().channel(topic, group); }

    /** {@code prefix}0 .. {@code prefix}(n-1). */
    static List<String> bodies(String prefix, int n) {
        List<String> out = new ArrayList<>();
        for (int i = 0; i < n; i++) out.add(prefix + i);
        return out;
    }

    Daemon nsqd() { return nsqds.get(0); }
    Daemon nsqd(int i) { return nsqds.get(i); }
    Daemon lookupd() { return lookupd; }
    HostPort tcp() { return nsqd().tcp(); }
    HostPort httpAddress() { return nsqd().httpAddress(); }
    NsqHttp http() { return nsqd().http(); }
    Path dir() { return dir; }

    /** Starts a process that is killed (with its descendants) after the test. */
    Spawned spawn(List<String> command, Map<String, String> env) throws IOException {
        Spawned p = Spawned.start(dir, command, env);
        spawned.add(p);
        return p;
    }

    /**
     * A free port below the kernel's ephemeral range: a port the kernel hands out (bind to 0) can be
     * taken by any outgoing connection before nsqd binds it, and was ("address already in use").
     */
    static int freePort() throws IOException {
        int below = ephemeralLow();
        for (int tries = 0; tries < 200; tries++) {
            int port = 10_000 + java.util.concurrent.ThreadLocalRandom.current().nextInt(Math.max(1, below - 10_000));
            try (ServerSocket s = new ServerSocket(port, 1, java.net.InetAddress.getLoopbackAddress())) {
                return s.getLocalPort();
            } catch (java.net.BindException taken) {
                // another test's or service's port: try the next
            }
        }
        throw new IOException("no free port between 10000 and " + below + " after 200 tries");
    }

    private static int ephemeralLow() {
        try {
            int low = Integer.parseInt(Files.readString(Path.of("/proc/sys/net/ipv4/ip_local_port_range")).trim()
                .split("\\s+")[0]);
            return low > 11_000 ? low : 32_768;
        } catch (IOException | RuntimeException unreadable) {
            return 32_768; // Linux's default range starts there
        }
    }

    /** One NSQ daemon a test can stop, kill and start again on the same ports and data. */
    abstract static class Daemon {
        final String name;
        /** How the helpers below connect: the fixture's client(), set when the daemon is made. */
        NsqConfig client = NsqConfig.defaults();

        Daemon(String name) { this.name = name; }

        abstract HostPort tcp();
        abstract HostPort httpAddress();
        abstract long pid();
        abstract boolean isAlive();
        /** Starts and waits until /ping answers. */
        abstract void start() throws IOException, InterruptedException;
        /** SIGTERM and wait: nsqd flushes its in-memory and in-flight messages to disk. */
        abstract void sigterm() throws InterruptedException;
        /** SIGKILL: whatever was only in memory is lost. */
        abstract void sigkill() throws InterruptedException;
        abstract void stop() throws InterruptedException;
        abstract String tail();
        abstract void printLog();

        NsqHttp http() { return new NsqHttp(httpAddress(), Duration.ofSeconds(5), client.tls()); }

        /** The channel as /stats shows it with its clients (include_clients=true): what NsqHttp.Stats leaves out. */
        JsonNode channelWithClients(String topic, String channel) throws IOException, InterruptedException {
            HttpRequest get = HttpRequest.newBuilder(URI.create("http://" + httpAddress()
                + "/stats?format=json&include_clients=true&topic=" + topic + "&channel=" + channel)).build();
            String body = HTTP.send(get, HttpResponse.BodyHandlers.ofString()).body();
            return Json.MAPPER.readTree(body).path("topics").path(0).path("channels").path(0);
        }

        /** One connection, MPUB of all {@code bodies}. */
        void publish(String topic, List<String> bodies) throws IOException {
            List<byte[]> raw = new ArrayList<>();
            for (String b : bodies) raw.add(b.getBytes(java.nio.charset.StandardCharsets.UTF_8));
            try (Publisher pub = new Publisher(tcp(), client)) {
                pub.publish(topic, raw);
            }
        }

        void publish(String topic, int n) throws IOException { publish(topic, bodies("m", n)); }

        /** PUB of each body as it is (binary bodies, or bodies that must arrive one by one). */
        void publishEach(String topic, byte[]... bodies) throws IOException {
            try (Publisher pub = new Publisher(tcp(), client)) {
                for (byte[] b : bodies) pub.publish(topic, b);
            }
        }

        void prepare(String topic, String... groups) throws IOException {
            http().createTopic(topic);
            for (String g : groups) http().createChannel(topic, g);
        }

        NsqHttp.ChannelStats channel(String topic, String group) throws IOException {
            NsqHttp.TopicStats t = http().stats(topic, group).topic(topic);
            return t == null ? null : t.channel(group);
        }

        void restart() throws IOException, InterruptedException {
            if (isAlive()) sigterm();
            start();
        }

        void awaitPing() throws InterruptedException {
            NsqHttp http = new NsqHttp(httpAddress(), Duration.ofSeconds(1), client.tls());
            Await.until(name + " answers /ping on " + httpAddress(), Duration.ofSeconds(15), () -> {
                if (!isAlive()) throw new IllegalStateException(name + " exited: " + tail());
                try {
                    http.ping();
                    return true;
                } catch (IOException notYet) {
                    return false;
                }
            });
        }
    }

    /** A daemon run from the local binaries. */
    static final class ProcessDaemon extends Daemon {
        final Path log;
        private static final Pattern LISTEN = Pattern.compile("(--(?:tcp|http|https)-address)=127\\.0\\.0\\.1:\\d+");
        private static final Pattern IN_USE =
            Pattern.compile("listen tcp 127\\.0\\.0\\.1:(\\d+): bind: address already in use");
        int httpPort;
        int tcpPort;
        private final List<String> command;
        private Process process;
        private boolean started; // once started, its ports are known to clients: a restart keeps them

        ProcessDaemon(String name, Path workDir, int httpPort, List<String> command) throws IOException {
            super(name);
            Files.createDirectories(workDir);
            this.log = workDir.resolve(name + ".log");
            this.httpPort = httpPort;
            this.command = new ArrayList<>(command);
        }

        @Override HostPort tcp() { return new HostPort("127.0.0.1", tcpPort); }
        @Override HostPort httpAddress() { return new HostPort("127.0.0.1", httpPort); }
        @Override long pid() { return process.pid(); }
        @Override boolean isAlive() { return process != null && process.isAlive(); }

        /**
         * Starts and waits until this process says it listens on its ports, then until /ping answers. A port
         * {@link #freePort} found free can be taken by another test's daemon before this one binds it; /ping alone
         * would then be answered by that daemon (seen: a test ran two minutes against another test's nsqd). The first
         * start moves to fresh ports then; a restart keeps its ports (clients know them) and fails instead.
         */
        @Override void start() throws IOException, InterruptedException {
            for (int attempt = 1; ; attempt++) {
                long from = Files.exists(log) ? Files.size(log) : 0;
                process = new ProcessBuilder(command).redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile())).start();
                String taken = awaitListening(from);
                if (taken == null) break;
                if (started || attempt == 3) throw new IllegalStateException(name + ": " + taken + ": " + tail());
                System.out.println(name + ": " + taken + "; starting on other ports");
                movePorts();
            }
            started = true;
            awaitPing();
        }

        /** Null once this process logged both listeners; what it could not bind when it exited for that. */
        private String awaitListening(long from) throws InterruptedException {
            String[] taken = {null};
            Await.until(name + " listens on 127.0.0.1:" + tcpPort + " and :" + httpPort, Duration.ofSeconds(15), () -> {
                boolean alive = isAlive(); // before reading: a log read after exit is then complete
                String fresh = logFrom(from);
                if (fresh.contains("TCP: listening on 127.0.0.1:" + tcpPort + "\n")
                    && fresh.contains("HTTP: listening on 127.0.0.1:" + httpPort + "\n")) return true;
                if (alive) return false;
                Matcher m = IN_USE.matcher(fresh);
                if (!m.find()) throw new IllegalStateException(name + " exited: " + tail());
                taken[0] = "port " + m.group(1) + " is taken by another process";
                return true;
            });
            return taken[0];
        }

        private String logFrom(long offset) throws IOException {
            byte[] all = Files.readAllBytes(log);
            return new String(all, (int) Math.min(offset, all.length), all.length - (int) Math.min(offset, all.length),
                java.nio.charset.StandardCharsets.UTF_8);
        }

        /** Fresh ports in the listen flags (the only 127.0.0.1 ports the daemon binds; others, e.g. AUTH's, stay). */
        private void movePorts() throws IOException {
            for (int i = 0; i < command.size(); i++) {
                Matcher m = LISTEN.matcher(command.get(i));
                if (!m.matches()) continue;
                int port = freePort();
                command.set(i, m.group(1) + "=127.0.0.1:" + port);
                if (m.group(1).equals("--tcp-address")) tcpPort = port;
                if (m.group(1).equals("--http-address")) httpPort = port;
            }
        }

        @Override void sigterm() throws InterruptedException {
            process.destroy();
            if (!process.waitFor(15, TimeUnit.SECONDS)) throw new IllegalStateException(name
                + " ignored SIGTERM for 15 s");
        }

        @Override void sigkill() throws InterruptedException {
            process.destroyForcibly();
            process.waitFor(15, TimeUnit.SECONDS);
        }

        @Override void stop() throws InterruptedException {
            if (process == null || !process.isAlive()) return;
            process.destroy();
            if (!process.waitFor(10, TimeUnit.SECONDS)) sigkill();
        }

        @Override String tail() {
            try {
                if (!Files.exists(log)) return "(no log yet)";
                List<String> lines = Files.readAllLines(log);
                return String.join(" | ", lines.subList(Math.max(0, lines.size() - 5), lines.size()));
            } catch (IOException e) {
                return "(log unreadable: " + e.getMessage() + ")";
            }
        }

        @Override void printLog() {
            try {
                System.out.println("----- " + name + " log (" + log + ") -----");
                if (Files.exists(log)) Files.readAllLines(log).forEach(l -> System.out.println("  " + l));
            } catch (IOException e) {
                System.out.println("  (log unreadable: " + e.getMessage() + ")");
            }
        }
    }
}
