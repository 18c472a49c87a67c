//DEPS com.fasterxml.jackson.core:jackson-databind:2.18.2

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import java.io.IOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;

/** The few nsqd and nsqlookupd HTTP endpoints mqueue needs, with timeouts and typed answers. */
final class NsqHttp {
    static final ObjectMapper JSON = new ObjectMapper()
        .setPropertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE)
        .configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false);
    private static final HttpClient CLIENT = HttpClient.newBuilder()
        .version(HttpClient.Version.HTTP_1_1)
        .connectTimeout(Duration.ofSeconds(2))
        .build();

    private final HostPort address;
    private final Duration timeout;

    NsqHttp(HostPort address) { this(address, Duration.ofSeconds(5)); }

    NsqHttp(HostPort address, Duration timeout) {
        this.address = address;
        this.timeout = timeout;
    }

    HostPort address() { return address; }

    // nsqd /stats?format=json (only the fields mqueue reads)
    record Stats(String version, String health, long startTime, List<TopicStats> topics) {
        TopicStats topic(String name) {
            return topics == null ? null : topics.stream().filter(t -> t.topicName().equals(name)).findFirst().orElse(null);
        }
    }
    record TopicStats(String topicName, List<ChannelStats> channels, long depth, long backendDepth,
                      long messageCount, boolean paused) {
        ChannelStats channel(String name) {
            return channels == null ? null : channels.stream().filter(c -> c.channelName().equals(name)).findFirst().orElse(null);
        }
    }
    record ChannelStats(String channelName, long depth, long backendDepth, long inFlightCount, long deferredCount,
                        long messageCount, long requeueCount, long timeoutCount, int clientCount, boolean paused) {}
    // nsqd /info
    record Info(String version, String broadcastAddress, String hostname, int tcpPort, int httpPort, long startTime) {}
    // nsqlookupd /lookup and /nodes
    record Producer(String remoteAddress, String hostname, String broadcastAddress, int tcpPort, int httpPort,
                    String version, List<String> topics) {
        HostPort tcp() { return new HostPort(broadcastAddress, tcpPort); }
        HostPort http() { return new HostPort(broadcastAddress, httpPort); }
    }
    record Lookup(List<String> channels, List<Producer> producers) {}
    private record Nodes(List<Producer> producers) {}

    /** A non-2xx answer: {@code status} and nsqd's message, e.g. 404 TOPIC_NOT_FOUND. */
    static final class HttpStatusException extends IOException {
        final int status;
        final String reason;

        HttpStatusException(String what, int status, String reason) {
            super(what + " answered " + status + " " + reason);
            this.status = status;
            this.reason = reason;
        }
    }

    void ping() throws IOException { send("GET", "/ping"); }

    Info info() throws IOException { return JSON.readValue(send("GET", "/info"), Info.class); }

    Stats stats() throws IOException { return stats(null, null); }

    /** Stats, optionally filtered; nsqd omits the whole topic when {@code channel} does not exist. */
    Stats stats(String topic, String channel) throws IOException {
        String q = "/stats?format=json&include_clients=false&include_mem=false";
        if (topic != null) q += "&topic=" + enc(topic);
        if (channel != null) q += "&channel=" + enc(channel);
        return JSON.readValue(send("GET", q), Stats.class);
    }

    void createTopic(String topic) throws IOException { send("POST", "/topic/create?topic=" + enc(topic)); }

    /** Creates the channel; 404 TOPIC_NOT_FOUND when the topic does not exist yet. */
    void createChannel(String topic, String channel) throws IOException {
        send("POST", "/channel/create?topic=" + enc(topic) + "&channel=" + enc(channel));
    }

    /** nsqlookupd: the nsqd nodes that have {@code topic}; an unknown topic is an empty answer. */
    Lookup lookup(String topic) throws IOException {
        try {
            return JSON.readValue(send("GET", "/lookup?topic=" + enc(topic)), Lookup.class);
        } catch (HttpStatusException e) {
            if (e.status == 404) return new Lookup(List.of(), List.of());
            throw e;
        }
    }

    /** nsqlookupd: every nsqd node it knows. */
    List<Producer> nodes() throws IOException {
        return JSON.readValue(send("GET", "/nodes"), Nodes.class).producers();
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
            throw new IOException(method + " " + uri + " failed: " + Cli.describe(e), e);
        }
        if (response.statusCode() / 100 != 2) {
            throw new HttpStatusException(method + " " + uri, response.statusCode(), reason(response.body()));
        }
        return response.body();
    }

    /** nsqd errors come as {"message":"TOPIC_NOT_FOUND"}. */
    private static String reason(byte[] body) {
        try {
            var node = JSON.readTree(body);
            if (node != null && node.hasNonNull("message")) return node.get("message").asText();
        } catch (IOException notJson) {
            // plain-text error bodies are shown as they are
        }
        return new String(body, StandardCharsets.UTF_8).trim();
    }

    private static String enc(String s) { return URLEncoder.encode(s, StandardCharsets.UTF_8); }
}
