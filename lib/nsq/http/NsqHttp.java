package nsq.http;

import java.io.IOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import nsq.HostPort;
import nsq.NsqException;
import util.Json;

/** The few nsqd and nsqlookupd HTTP endpoints mqueue needs, with timeouts and typed answers. */
public final class NsqHttp {
    private static final HttpClient CLIENT = HttpClient.newBuilder()
        .version(HttpClient.Version.HTTP_1_1)
        .connectTimeout(Duration.ofSeconds(2))
        .build();

    private final HostPort address;
    private final Duration timeout;

    public NsqHttp(HostPort address) { this(address, Duration.ofSeconds(5)); }

    public NsqHttp(HostPort address, Duration timeout) {
        this.address = address;
        this.timeout = timeout;
    }

    public HostPort address() { return address; }

    /** nsqd /stats?format=json (only the fields mqueue reads). */
    public record Stats(String version, String health, long startTime, List<TopicStats> topics) {
        public TopicStats topic(String name) {
            return topics == null ? null : topics.stream().filter(t -> t.topicName().equals(name)).findFirst().orElse(null);
        }
    }

    public record TopicStats(String topicName, List<ChannelStats> channels, long depth, long backendDepth,
                             long messageCount, boolean paused) {
        public ChannelStats channel(String name) {
            return channels == null ? null : channels.stream().filter(c -> c.channelName().equals(name)).findFirst().orElse(null);
        }
    }

    public record ChannelStats(String channelName, long depth, long backendDepth, long inFlightCount, long deferredCount,
                               long messageCount, long requeueCount, long timeoutCount, int clientCount, boolean paused) {}

    /** nsqd /info. */
    public record Info(String version, String broadcastAddress, String hostname, int tcpPort, int httpPort, long startTime) {}

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

        HttpStatusException(String what, int status, String reason) {
            super(what + " answered " + status + " " + reason);
            this.status = status;
            this.reason = reason;
        }
    }

    public void ping() throws IOException { send("GET", "/ping"); }

    public Info info() throws IOException { return Json.MAPPER.readValue(send("GET", "/info"), Info.class); }

    public Stats stats() throws IOException { return stats(null, null); }

    /** Stats, optionally filtered; nsqd omits the whole topic when {@code channel} does not exist. */
    public Stats stats(String topic, String channel) throws IOException {
        String q = "/stats?format=json&include_clients=false&include_mem=false";
        if (topic != null) q += "&topic=" + enc(topic);
        if (channel != null) q += "&channel=" + enc(channel);
        return Json.MAPPER.readValue(send("GET", q), Stats.class);
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
        URI uri = URI.create("http://" + address + pathAndQuery);
        HttpRequest request = HttpRequest.newBuilder(uri).timeout(timeout)
            .method(method, HttpRequest.BodyPublishers.noBody()).build();
        HttpResponse<byte[]> response;
        try {
            response = CLIENT.send(request, HttpResponse.BodyHandlers.ofByteArray());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException(method + " " + uri + " interrupted", e);
        } catch (IOException e) {
            // The JDK quotes a non-HTTP answer byte for byte; nsqd's TCP port answers with a binary frame.
            if (String.valueOf(e.getMessage()).chars().anyMatch(c -> c < 0x20 && c != '\t')) {
                throw new NsqException(address + " does not answer HTTP (nsqd's TCP port? its HTTP port is 4151 by default, nsqlookupd's 4161)",
                    true, null);
            }
            throw new IOException(method + " " + uri + " failed: " + NsqException.describe(e), e);
        }
        if (response.statusCode() / 100 != 2) {
            throw new HttpStatusException(method + " " + uri, response.statusCode(), reason(response.body()));
        }
        return response.body();
    }

    /** nsqd errors come as {"message":"TOPIC_NOT_FOUND"}. */
    private static String reason(byte[] body) {
        try {
            var node = Json.MAPPER.readTree(body);
            if (node != null && node.hasNonNull("message")) return node.get("message").asText();
        } catch (IOException notJson) {
            // plain-text error bodies are shown as they are
        }
        return new String(body, StandardCharsets.UTF_8).trim();
    }

    private static String enc(String s) { return URLEncoder.encode(s, StandardCharsets.UTF_8); }
}
