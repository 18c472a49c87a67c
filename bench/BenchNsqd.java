import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A private nsqd for one bench case: ports picked by the OS, data dir on tmpfs (/dev/shm) when
 * there is one, and a memory queue large enough that nothing goes to its disk queue, so nsqd is
 * not the bottleneck of a client comparison. Stats and the few HTTP calls the bench needs.
 */
final class BenchNsqd implements AutoCloseable {
    /** Messages per topic and channel kept in memory; nsqd allocates 8 bytes per slot up front (80 MB per channel). */
    static final long MEM_QUEUE = 10_000_000;
    static final ObjectMapper JSON = new ObjectMapper();
    private static final HttpClient HTTP = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();

    final Process process;
    final String tcp, http;
    final Path dir;
    final List<String> command;

    private BenchNsqd(Process process, String tcp, String http, Path dir, List<String> command) {
        this.process = process;
        this.tcp = tcp;
        this.http = http;
        this.dir = dir;
        this.command = command;
    }

    static Path tmpfs() {
        Path shm = Path.of("/dev/shm");
        return Files.isDirectory(shm) && Files.isWritable(shm) ? shm : Path.of(System.getProperty("java.io.tmpdir"));
    }

    static BenchNsqd start(Path bin) throws IOException, InterruptedException { return start(bin, MEM_QUEUE); }

    /** {@code memQueue}: nsqd's default (10,000) where there are many channels, each allocating its queue up front. */
    static BenchNsqd start(Path bin, long memQueue) throws IOException, InterruptedException {
        Path dir = Files.createTempDirectory(tmpfs(), "mqueue-bench-nsqd-");
        List<String> cmd = List.of(bin.toString(), "--tcp-address=127.0.0.1:0", "--http-address=127.0.0.1:0",
            "--data-path=" + dir, "--mem-queue-size=" + memQueue);
        Path log = dir.resolve("nsqd.log");
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        Pattern tcpLine = Pattern.compile("TCP: listening on ([0-9.:]+)"),
            httpLine = Pattern.compile("HTTP: listening on ([0-9.:]+)");
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (System.nanoTime() < deadline) {
            String text = Files.exists(log) ? Files.readString(log) : "";
            Matcher t = tcpLine.matcher(text), h = httpLine.matcher(text);
            if (t.find() && h.find()) return new BenchNsqd(p, t.group(1), h.group(1), dir, cmd);
            if (!p.isAlive()) break;
            Thread.sleep(20);
        }
        p.destroyForcibly();
        throw new IOException("nsqd did not start: " + (Files.exists(log) ? Files.readString(log) : "no log"));
    }

    long pid() { return process.pid(); }

    /** /stats of one topic (and channel), without clients and memory; null when the topic does not exist. */
    JsonNode topicStats(String topic, String channel) throws IOException {
        String q = "/stats?format=json&include_clients=false&include_mem=false&topic=" + enc(topic) + (channel == null
            ? "" : "&channel=" + enc(channel));
        JsonNode topics = JSON.readTree(get(q)).path("topics");
        for (JsonNode t : topics) if (t.path("topic_name").asText().equals(topic)) return t;
        return null;
    }

    /** Messages a topic has taken in so far (0 before it exists). */
    long published(String topic) throws IOException {
        JsonNode t = topicStats(topic, null);
        return t == null ? 0 : t.path("message_count").asLong();
    }

    /**
     * Messages a channel has handed to its consumers: taken in, minus those waiting. (Not "finished":
     * bench_reader sends its FINs in 4 KiB chunks, so its last ones may never leave; and TCP flow
     * control keeps what was handed out within a socket buffer of what the consumer has read.)
     */
    long handedOut(String topic, String channel) throws IOException {
        JsonNode t = topicStats(topic, channel);
        if (t == null) return 0;
        for (JsonNode c : t.path("channels")) {
            if (c.path("channel_name").asText().equals(channel)) {
                return c.path("message_count").asLong() - c.path("depth").asLong() - c.path("deferred_count").asLong();
            }
        }
        return 0;
    }

    String version() throws IOException { return JSON.readTree(get("/info")).path("version").asText(); }

    void createTopic(String topic) throws IOException { post("/topic/create?topic=" + enc(topic), new byte[0]); }

    void createChannel(String topic, String channel) throws IOException {
        post("/channel/create?topic=" + enc(topic) + "&channel=" + enc(channel), new byte[0]);
    }

    void deleteTopic(String topic) throws IOException { post("/topic/delete?topic=" + enc(topic), new byte[0]); }

    /**
     * Between two runs: nsqd returns the memory the last run left (a deleted topic of GBs would
     * otherwise be collected during the next run), then the bench waits until nsqd is idle.
     */
    void settle() throws IOException, InterruptedException {
        try {
            post("/debug/freememory", new byte[0]);
        } catch (IOException e) {
            // nsqd v1.3.0 frees, then answers 500: its handler returns no body for the plain-text writer
            if (!e.getMessage().contains(": 500 ")) throw e;
        }
        for (int i = 0; i < 25; i++) {
            long t0 = ProcStat.cpuTicks(pid());
            Thread.sleep(200);
            if (ProcStat.cpuTicks(pid()) - t0 <= 2) return; // at most 10 % of a core
        }
    }

    void publish(String topic, byte[] body) throws IOException { post("/pub?topic=" + enc(topic), body); }

    /**
     * Fills {@code topic} with {@code n} bodies of {@code size} bytes through /mpub (binary), in
     * requests under nsqd's default 5 MiB --max-body-size.
     */
    void fill(String topic, long n, int size) throws IOException {
        int perRequest = (int) Math.max(1, Math.min(20_000, (4L << 20) / (size + 4)));
        byte[] body = new byte[size];
        java.util.Arrays.fill(body, (byte) 'x');
        for (long left = n; left > 0; left -= perRequest) {
            int k = (int) Math.min(perRequest, left);
            java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(4 + k * (4 + size));
            b.putInt(k);
            for (int i = 0; i < k; i++) b.putInt(size).put(body);
            post("/mpub?binary=true&topic=" + enc(topic), b.array());
        }
    }

    private byte[] get(String pathQuery) throws IOException { return send(HttpRequest.newBuilder(uri(pathQuery))
        .GET()); }

    private void post(String pathQuery, byte[] body) throws IOException {
        send(HttpRequest.newBuilder(uri(pathQuery)).POST(HttpRequest.BodyPublishers.ofByteArray(body)));
    }

    private byte[] send(HttpRequest.Builder request) throws IOException {
        try {
            HttpResponse<byte[]> r = HTTP.send(request.timeout(Duration.ofSeconds(30)).build(),
                HttpResponse.BodyHandlers.ofByteArray());
            if (r.statusCode() / 100 != 2) throw new IOException(r.uri() + ": " + r.statusCode() + " "
                + new String(r.body(), StandardCharsets.UTF_8));
            return r.body();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        }
    }

    private URI uri(String pathQuery) { return URI.create("http://" + http + pathQuery); }

    private static String enc(String s) { return URLEncoder.encode(s, StandardCharsets.UTF_8); }

    @Override
    public void close() throws IOException, InterruptedException {
        process.destroy();
        if (!process.waitFor(10, TimeUnit.SECONDS)) process.destroyForcibly().waitFor();
        try (var files = Files.walk(dir)) {
            List<Path> all = new ArrayList<>(files.toList());
            java.util.Collections.reverse(all);
            for (Path p : all) Files.deleteIfExists(p);
        }
    }
}
