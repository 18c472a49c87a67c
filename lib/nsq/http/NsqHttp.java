package nsq.http;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import java.io.IOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import nsq.HostPort;
import nsq.Identify;
import nsq.NsqException;
import nsq.Tls;
import util.Json;

/**
 * The few nsqd and nsqlookupd HTTP endpoints mqueue needs, with timeouts and typed answers.
 *
 * <p>HTTPS: with {@link Tls}, requests follow nsqd to its HTTPS port. nsqd started with
 * --tls-required=true answers its plain port with 403 TLS_REQUIRED naming its HTTPS port (nsqlookupd
 * lists only the plain one), and its HTTPS port answers plain HTTP with 400; either switches this
 * client to HTTPS for good. nsqd's HTTP API asks for no AUTH (v1.3.0 checks it on TCP only). Plain HTTP goes
 * through {@link PlainHttp}; the JDK's HttpClient (and its TLS context) is made only for HTTPS.
 *
 * <p>Thread model: one caller at a time per instance for {@link #stats} (the wakeup's scan hands a node to one io
 * thread per scan); everything else any thread. The last /stats answer and its parse are this instance's, under
 * its lock.
 */
public final class NsqHttp {
    /** jackson-core's streaming parser only: databind's ObjectMapper is not loaded to read /stats. */
    private static final JsonFactory JSON = new JsonFactory();
    private static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(2);
    /** One client (and selector thread) per TLS setting, not per node. */
    private static final Map<Tls, HttpClient> TLS_CLIENTS = new ConcurrentHashMap<>();
    // nsqd --tls-required=true on its plain port: 403 {"message": "TLS_REQUIRED", "https_port": 4152}
    private static final Pattern HTTPS_PORT = Pattern.compile("\"https_port\"\\s*:\\s*(\\d+)");
    // Go's net/http on a TLS port that got plain HTTP
    private static final String PLAIN_TO_HTTPS = "Client sent an HTTP request to an HTTPS server";

    private final HostPort address;
    private final Duration timeout;
    private final Tls tls;
    private volatile HostPort target;
    private volatile boolean https;
    /** The last /stats answer, its query and its parse: an identical answer is not parsed again. */
    private byte[] lastStatsBody;
    private String lastStatsQuery;
    private Stats lastStats;
    private long statsParsed;

    public NsqHttp(HostPort address) { this(address, Duration.ofSeconds(5)); }

    public NsqHttp(HostPort address, Duration timeout) { this(address, timeout, null); }

    /** {@code tls} null: plain HTTP only; an nsqd that requires TLS is then a fatal error naming its HTTPS port. */
    public NsqHttp(HostPort address, Duration timeout, Tls tls) {
        this.address = address;
        this.timeout = timeout;
        this.tls = tls;
        this.target = address;
    }

    private static HttpClient.Builder builder() {
        return HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(CONNECT_TIMEOUT);
    }

    public HostPort address() { return address; }

    /** Where requests go now: the address given, or nsqd's HTTPS port once it asked for TLS. */
    public String endpoint() { return (https ? "https://" : "http://") + target; }

    /** nsqd /stats?format=json (only the fields mqueue reads). */
    public record Stats(String version, String health, long startTime, List<TopicStats> topics) {
        public TopicStats topic(String name) {
            return topics == null ? null
                : topics.stream().filter(t -> t.topicName().equals(name)).findFirst().orElse(null);
        }
    }

    public record TopicStats(String topicName, List<ChannelStats> channels, long depth, long backendDepth,
                             long messageCount, boolean paused) {
        public ChannelStats channel(String name) {
            return channels == null ? null
                : channels.stream().filter(c -> c.channelName().equals(name)).findFirst().orElse(null);
        }
    }

    public record ChannelStats(String channelName, long depth, long backendDepth, long inFlightCount,
        long deferredCount,
                               long messageCount, long requeueCount, long timeoutCount, int clientCount,
                                   boolean paused) {}

    /** nsqd /info. */
    public record Info(String version, String broadcastAddress, String hostname, int tcpPort, int httpPort,
        long startTime) {}

    /** An nsqd node as nsqlookupd lists it in /lookup and /nodes. */
    public record Producer(String remoteAddress, String hostname, String broadcastAddress, int tcpPort, int httpPort,
                           String version, List<String> topics) {
        public HostPort tcp() { return new HostPort(broadcastAddress, tcpPort); }
        public HostPort http() { return new HostPort(broadcastAddress, httpPort); }
    }

    public record Lookup(List<String> channels, List<Producer> producers) {}

    private record Nodes(List<Producer> producers) {}

    /** A non-2xx answer: {@code status} and nsqd's message, e.g. 404 TOPIC_NOT_FOUND. */
    public static final class HttpStatusException extends IOException {
        public final int status;
        public final String reason;
        final String body;

        HttpStatusException(String what, int status, String reason, String body) {
            super(what + " answered " + status + " " + reason);
            this.status = status;
            this.reason = reason;
            this.body = body;
        }
    }

    public void ping() throws IOException { send("GET", "/ping"); }

    /** nsqd /info, a flat object: read without Jackson's databind. */
    public Info info() throws IOException {
        Map<String, String> f = Identify.flatJson(new String(send("GET", "/info"), StandardCharsets.UTF_8));
        try {
            return new Info(f.get("version"), f.get("broadcast_address"), f.get("hostname"),
                Integer.parseInt(f.getOrDefault("tcp_port", "0")), Integer.parseInt(f.getOrDefault("http_port", "0")),
                Long.parseLong(f.getOrDefault("start_time", "0")));
        } catch (NumberFormatException e) {
            throw new IOException("GET " + endpoint() + "/info: not nsqd's answer (" + e.getMessage() + ")", e);
        }
    }

    public Stats stats() throws IOException { return stats(null, null); }

    /** Stats, optionally filtered; nsqd omits the whole topic when {@code channel} does not exist. */
    public Stats stats(String topic, String channel) throws IOException {
        String q = "/stats?format=json&include_clients=false&include_mem=false";
        if (topic != null) q += "&topic=" + enc(topic);
        if (channel != null) q += "&channel=" + enc(channel);
        byte[] body = send("GET", q);
        synchronized (this) {
            // The wakeup reads every node's /stats each scan; an idle nsqd answers the same bytes every time.
            if (q.equals(lastStatsQuery) && Arrays.equals(body, lastStatsBody)) return lastStats;
        }
        Stats parsed = parseStats(body);
        synchronized (this) {
            lastStatsQuery = q;
            lastStatsBody = body;
            lastStats = parsed;
            statsParsed++;
        }
        return parsed;
    }

    /** How many /stats answers this client parsed: an answer identical to the one before is not. */
    public synchronized long statsParsed() { return statsParsed; }

    /**
     * /stats read token by token into the records: the wakeup reads it every scan, and with 1,100
     * channels per node binding records through Jackson's property-based creators took ~5 ms a node
     * under C1 against ~2 ms this way (bench/RESULTS.md, wakeup idle). Unknown fields are skipped.
     */
    static Stats parseStats(byte[] json) throws IOException {
        try (JsonParser p = JSON.createParser(json)) {
            if (p.nextToken() != JsonToken.START_OBJECT) throw new IOException("/stats answered something other than a "
                + "JSON object");
            String version = null, health = null;
            long start = 0;
            List<TopicStats> topics = null;
            while (p.nextToken() == JsonToken.FIELD_NAME) {
                String f = p.currentName();
                p.nextToken();
                switch (f) {
                    case "version" -> version = p.getValueAsString();
                    case "health" -> health = p.getValueAsString();
                    case "start_time" -> start = p.getValueAsLong();
                    case "topics" -> topics = list(p, NsqHttp::topic);
                    default -> p.skipChildren();
                }
            }
            return new Stats(version, health, start, topics);
        }
    }

    private interface Item<T> { T read(JsonParser p) throws IOException; }

    /** An array of objects (null for JSON null), the parser on its first token. */
    private static <T> List<T> list(JsonParser p, Item<T> item) throws IOException {
        if (p.currentToken() != JsonToken.START_ARRAY) {
            p.skipChildren();
            return null;
        }
        List<T> out = new ArrayList<>();
        while (p.nextToken() == JsonToken.START_OBJECT) out.add(item.read(p));
        return out;
    }

    private static TopicStats topic(JsonParser p) throws IOException {
        String name = null;
        List<ChannelStats> channels = null;
        long depth = 0, backendDepth = 0, messageCount = 0;
        boolean paused = false;
        while (p.nextToken() == JsonToken.FIELD_NAME) {
            String f = p.currentName();
            p.nextToken();
            switch (f) {
                case "topic_name" -> name = p.getValueAsString();
                case "channels" -> channels = list(p, NsqHttp::channel);
                case "depth" -> depth = p.getValueAsLong();
                case "backend_depth" -> backendDepth = p.getValueAsLong();
                case "message_count" -> messageCount = p.getValueAsLong();
                case "paused" -> paused = p.getValueAsBoolean();
                default -> p.skipChildren();
            }
        }
        return new TopicStats(name, channels, depth, backendDepth, messageCount, paused);
    }

    private static ChannelStats channel(JsonParser p) throws IOException {
        String name = null;
        long depth = 0, backendDepth = 0, inFlight = 0, deferred = 0, messageCount = 0, requeue = 0, timeout = 0;
        int clients = 0;
        boolean paused = false;
        while (p.nextToken() == JsonToken.FIELD_NAME) {
            String f = p.currentName();
            p.nextToken();
            switch (f) {
                case "channel_name" -> name = p.getValueAsString();
                case "depth" -> depth = p.getValueAsLong();
                case "backend_depth" -> backendDepth = p.getValueAsLong();
                case "in_flight_count" -> inFlight = p.getValueAsLong();
                case "deferred_count" -> deferred = p.getValueAsLong();
                case "message_count" -> messageCount = p.getValueAsLong();
                case "requeue_count" -> requeue = p.getValueAsLong();
                case "timeout_count" -> timeout = p.getValueAsLong();
                case "client_count" -> clients = p.getValueAsInt();
                case "paused" -> paused = p.getValueAsBoolean();
                default -> p.skipChildren();
            }
        }
        return new ChannelStats(name, depth, backendDepth, inFlight, deferred, messageCount, requeue, timeout, clients,
            paused);
    }

    public void createTopic(String topic) throws IOException { send("POST", "/topic/create?topic=" + enc(topic)); }

    /** Creates the channel; 404 TOPIC_NOT_FOUND when the topic does not exist yet. */
    public void createChannel(String topic, String channel) throws IOException {
        send("POST", "/channel/create?topic=" + enc(topic) + "&channel=" + enc(channel));
    }

    /** nsqlookupd: the nsqd nodes that have {@code topic}; an unknown topic is an empty answer. */
    public Lookup lookup(String topic) throws IOException {
        try {
            return Json.MAPPER.readValue(send("GET", "/lookup?topic=" + enc(topic)), Lookup.class);
        } catch (HttpStatusException e) {
            if (e.status == 404) return new Lookup(List.of(), List.of());
            throw e;
        }
    }

    /** nsqlookupd: every nsqd node it knows. */
    public List<Producer> nodes() throws IOException {
        return Json.MAPPER.readValue(send("GET", "/nodes"), Nodes.class).producers();
    }

    private byte[] send(String method, String pathAndQuery) throws IOException {
        try {
            return sendOnce(method, pathAndQuery);
        } catch (HttpStatusException e) {
            if (!followToHttps(e)) throw e;
            return sendOnce(method, pathAndQuery);
        }
    }

    /** True when nsqd said to use its HTTPS port and TLS is configured; fatal when it said so and TLS is not. */
    private boolean followToHttps(HttpStatusException e) throws NsqException {
        boolean tlsRequired = e.status == 403 && e.reason.contains("TLS_REQUIRED");
        boolean httpsPort = e.status == 400 && e.reason.contains(PLAIN_TO_HTTPS);
        if (https || !tlsRequired && !httpsPort) return false;
        Matcher port = HTTPS_PORT.matcher(e.body);
        HostPort to = tlsRequired && port.find() ? new HostPort(address.host(), Integer.parseInt(port.group(1)))
            : address;
        if (tls == null) {
            throw new NsqException("nsqd " + address + (httpsPort ? " is an HTTPS port"
                : " requires TLS on its HTTP API too (--tls-required)")
                + " and TLS is not configured; its HTTPS address is " + to, true, e);
        }
        target = to;
        https = true;
        return true;
    }

    private byte[] sendOnce(String method, String pathAndQuery) throws IOException {
        if (!https) return plain(method, pathAndQuery);
        URI uri = URI.create(endpoint() + pathAndQuery);
        HttpRequest request = HttpRequest.newBuilder(uri).timeout(timeout)
            .method(method, HttpRequest.BodyPublishers.noBody()).build();
        HttpResponse<byte[]> response;
        try {
            response = client().send(request, HttpResponse.BodyHandlers.ofByteArray());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException(method + " " + uri + " interrupted", e);
        } catch (IOException e) {
            throw failed(method, uri.toString(), e);
        }
        return answered(method, uri.toString(), response.statusCode(), response.body());
    }

    private byte[] plain(String method, String pathAndQuery) throws IOException {
        String uri = endpoint() + pathAndQuery;
        PlainHttp.Response r;
        try {
            r = PlainHttp.exchange(target, method, pathAndQuery, CONNECT_TIMEOUT, timeout);
        } catch (IOException e) {
            throw failed(method, uri, e);
        }
        return answered(method, uri, r.status(), r.body());
    }

    private IOException failed(String method, String uri, IOException e) {
        // A non-HTTP answer is quoted byte for byte; nsqd's TCP port answers with a binary frame, other services
        // with their banner.
        String why = String.valueOf(e.getMessage());
        if (why.chars().anyMatch(c -> c < 0x20 && c != '\t') || why.startsWith("Invalid status line")) {
            return new NsqException(address
                + " does not answer HTTP (nsqd's TCP port? its HTTP port is 4151 by default, nsqlookupd's 4161)",
                true, null);
        }
        if (https) {
            IOException tlsFailure = tls.failure(target, e);
            if (tlsFailure instanceof NsqException) return tlsFailure;
        }
        return new IOException(method + " " + uri + " failed: " + NsqException.describe(e), e);
    }

    private static byte[] answered(String method, String uri, int status, byte[] body) throws HttpStatusException {
        if (status / 100 != 2) {
            throw new HttpStatusException(method + " " + uri, status, reason(body),
                new String(body, StandardCharsets.UTF_8));
        }
        return body;
    }

    private HttpClient client() {
        return TLS_CLIENTS.computeIfAbsent(tls,
            t -> builder().sslContext(t.context()).sslParameters(t.parameters()).build());
    }

    /** nsqd errors come as {"message":"TOPIC_NOT_FOUND"}. */
    private static String reason(byte[] body) {
        String text = new String(body, StandardCharsets.UTF_8).trim();
        String message = text.startsWith("{") ? Identify.flatJson(text).get("message") : null;
        return message != null ? message : text; // plain-text error bodies are shown as they are
    }

    private static String enc(String s) { return URLEncoder.encode(s, StandardCharsets.UTF_8); }
}
