import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import activation.DeferredWake;
import activation.WakeSocket;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import nsq.NsqConfig;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * AUTH that allows the wakeup its streams but not the deferred-wake notes' topic (a deployment from
 * before the notes): nsqd refuses that one subscription (E_UNAUTHORIZED) and the wakeup says so once
 * and runs on, waking by scan and push as before; it does not exit over it.
 */
class DeferredWakeAuthTest {
    static final HttpServer AUTH = authServer();
    static final Duration WAIT = Duration.ofSeconds(30);

    @RegisterExtension final NsqFixture nsq = new NsqFixture().client(NsqConfig.defaults()
        .withAuthSecret("streams-only"))
        .flags("--auth-http-address=127.0.0.1:" + AUTH.getAddress().getPort());

    /** One secret, "streams-only": publish and subscribe on topic "guarded" alone. */
    static HttpServer authServer() {
        try {
            HttpServer s = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 10);
            s.createContext("/auth", exchange -> {
                byte[] body = ("{\"ttl\":3600,\"identity\":\"wakeup\",\"authorizations\":[{\"topic\":\"^guarded$\","
                    + "\"channels\":[\".*\"],\"permissions\":[\"subscribe\",\"publish\"]}]}")
                    .getBytes(StandardCharsets.UTF_8);
                exchange.sendResponseHeaders(exchange.getRequestURI().getRawQuery().contains("secret=streams-only")
                    ? 200 : 403, body.length);
                try (OutputStream out = exchange.getResponseBody()) {
                    out.write(body);
                }
            });
            s.start();
            return s;
        } catch (IOException e) {
            throw new IllegalStateException("cannot start the auth server", e);
        }
    }

    @AfterAll static void stopAuthServer() { AUTH.stop(0); }

    @Test void notesNsqdWillNotServeAreSaidOnceAndWakesGoOn() throws Exception {
        nsq.prepare("guarded", "sa");
        nsq.publish("guarded", 1);
        try (WakeupRun run = new WakeupRun()) {
            WakeSocket.Listener sa = run.listen("sa");
            wakeup w = run.start("--nsqd-http", nsq.httpAddress().toString(), "--auth-secret", "streams-only",
                "--scan-interval", "200ms",
                "--debounce", "0s");
            WakeupRun.assertScanThenPushWake(nsq, "guarded", sa, w, WAIT);
            long scans = w.scans();
            Await.until("more scans", WAIT, () -> w.scans() >= scans + 5);
            assertNull(w.failure(), "the wakeup runs on");
            assertEquals(0, w.noteSubscriptions(), "the notes are not followed once refused");
            assertTrue(nsq.channel(DeferredWake.TOPIC, wakeup.OWN_CHANNEL) == null,
                "no channel of ours on the notes' topic");
        }
    }
}
