import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import activation.WakeSocket;
import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.time.ZoneOffset;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;
import java.util.stream.Collectors;
import nsq.NsqConfig;
import nsq.publish.Publisher;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import util.Json;
import wake.GroupWaker;
import wake.SocketDir;
import wake.StatusReport;
import wake.StatusServer;

/**
 * `wakeup status` against a real nsqd, with groups in every state an operator asks about: sleeping
 * (a socket that listens, nothing waiting), waiting (messages, woken), running (a consumer reads it),
 * deferred, refused (a socket nothing listens on), a symlink, and missing (woken before, its socket
 * gone since). Before the wakeup runs, the rows come from the socket dir and nsqd alone, and the
 * report says the wakeup does not run; while it runs, its own state joins them over its status socket.
 */
class WakeupStatusTest {
    @RegisterExtension final NsqFixture nsq = new NsqFixture();

    static final Duration WAIT = Duration.ofSeconds(30);

    @Test void everyGroupBehindASocketIsOneRowWithOrWithoutTheWakeup() throws Exception {
        nsq.prepare("st", "waiting", "running", "refused", "link", "gone");
        nsq.prepare("quiet", "sleeping");
        nsq.prepare("later", "deferred");
        try (WakeupRun run = new WakeupRun(); ChannelReader consumer = new ChannelReader(nsq.tcp(), "st", "running");
             Publisher pub = new Publisher(nsq.tcp(), NsqConfig.defaults())) {
            Path dir = run.sockets;
            WakeSocket.Listener sleeping = run.listen("sleeping"), waiting = run.listen("waiting"),
                gone = run.listen("gone");
            run.listen("running");
            run.listen("deferred");
            WakeSocket.Listener.bind(dir.resolve("refused.sock")).close(); // left by a consumer that exited
            Files.createSymbolicLink(dir.resolve("link.sock"), dir.resolve("sleeping.sock"));
            nsq.publish("st", 1);   // every group of st gets it; the running one reads it at once
            pub.publishDeferred("later", Duration.ofMinutes(10), "due later".getBytes());
            assertEquals(1, consumer.take(1, WAIT).size(), "the running group read its message");

            StatusReport.Report before = report(dir);
            assertFalse(before.wakeup().running());
            assertTrue(before.wakeup().detail().startsWith("not running (no status socket " + StatusServer.path(dir)),
                before.wakeup().detail());
            Map<String, StatusReport.Row> rows = rows(before);
            assertEquals(Set.of("sleeping", "waiting", "running", "deferred", "refused", "link", "gone"),
                rows.keySet());
            assertNull(rows.get("waiting").wakes(), "nobody to ask how often it was woken");
            assertEquals(0, sleeping.wakes() + waiting.wakes(),
                "status connects to no group's socket: that would start its consumer");

            wakeup w = run.start("--nsqd-http", nsq.httpAddress().toString(), "--scan-interval", "200ms", "--debounce",
                "0ms");
            Await.until("waiting woken", WAIT, () -> waiting.wakes() >= 1 && w.wakes("waiting") >= 1);
            Await.until("refused and link tried", WAIT, () -> "refused".equals(w.state("refused"))
                && "symlink".equals(w.state("link")));
            Await.until("gone woken", WAIT, () -> gone.wakes() >= 1);
            gone.close();
            Files.delete(dir.resolve("gone.sock"));
            Await.until("the wakeup saw its socket go", WAIT, () -> "no socket".equals(w.state("gone")));
            Await.until("the status socket", WAIT,
                () -> SocketDir.kind(StatusServer.path(dir)) == SocketDir.Kind.SOCKET);
            assertEquals("rwxr-x---",
                PosixFilePermissions.toString(Files.getPosixFilePermissions(StatusServer.path(dir).getParent())));
            assertEquals("rw-rw----",
                PosixFilePermissions.toString(Files.getPosixFilePermissions(StatusServer.path(dir))));

            StatusReport.Report r = report(dir);
            assertTrue(r.wakeup().running(), r.wakeup().detail());
            assertEquals(ProcessHandle.current().pid(), r.wakeup().live().pid());
            rows = rows(r);
            assertEquals(Set.of("sleeping", "waiting", "running", "deferred", "refused", "link", "gone"),
                rows.keySet());
            assertRow(rows.get("sleeping"), "listening", false, 0, 0);
            assertEquals(List.of("quiet"), rows.get("sleeping").streams());
            assertEquals(0, rows.get("sleeping").wakes());
            assertNull(rows.get("sleeping").lastWake());
            assertRow(rows.get("waiting"), "listening", false, 1, 0);
            assertTrue(rows.get("waiting").wakes() >= 1);
            assertEquals(GroupWaker.Reason.scan, rows.get("waiting").lastWake().reason());
            assertTrue(rows.get("waiting").lastWake().atMillis() <= System.currentTimeMillis());
            assertNull(rows.get("waiting").lastError());
            assertRow(rows.get("running"), "listening", true, 0, 0);
            assertRow(rows.get("deferred"), "listening", false, 0, 1);
            assertEquals(List.of("later"), rows.get("deferred").streams());
            assertRow(rows.get("refused"), "refused", false, 1, 0);
            assertTrue(rows.get("refused").lastError().message().contains("Connection refused"),
                rows.get("refused").lastError().message());
            assertRow(rows.get("link"), "symlink (refused)", false, 1, 0);
            assertTrue(rows.get("link").lastError().message().contains("is a symlink"));
            assertRow(rows.get("gone"), "missing", false, 1, 0);
            assertTrue(rows.get("gone").wakes() >= 1, "woken before its socket went");

            String table = StatusReport.table(r, System.currentTimeMillis(), ZoneOffset.UTC);
            assertTrue(table.startsWith("wakeup: running, pid " + ProcessHandle.current().pid()), table);
            assertTrue(table.contains("GROUP") && table.contains("LAST ERROR"), table);
            assertTrue(table.lines().anyMatch(l ->
                l.matches("waiting\\s+st\\s+listening\\s+-\\s+1\\s+0\\s+0\\s+\\d\\d:\\d\\d:\\d\\d scan "
                + "\\S+\\s+\\d+\\s+-")),
                "the waiting row:\n" + table);
        }
    }

    /**
     * The CLI: `wakeup status --json` in its own process, the same rows; exit 1 when no nsqd answers, with the socket
     * dir's rows all the same.
     */
    @Test void asACommandItPrintsJsonOrATableAndExits1WhenNoNsqdAnswers() throws Exception {
        nsq.prepare("cli", "g");
        try (WakeupRun run = new WakeupRun()) {
            run.listen("g");
            Spawned json = nsq.spawn(Spawned.java("wakeup", "status", "--json", "--socket-dir", run.sockets.toString(),
                "--nsqd-http", nsq.httpAddress().toString()), Map.of());
            assertEquals(0, json.waitFor(WAIT), json.stderr());
            JsonNode doc = Json.MAPPER.readTree(json.stdout());
            assertFalse(doc.path("wakeup").path("running").asBoolean());
            assertEquals("g", doc.path("groups").get(0).path("group").asText());
            assertEquals("listening", doc.path("groups").get(0).path("socket").asText());
            assertEquals("cli", doc.path("groups").get(0).path("streams").get(0).asText());
            assertTrue(doc.path("groups").get(0).path("consumer_running").isBoolean(), json.stdout());
            assertFalse(doc.path("groups").get(0).path("consumer_running").asBoolean());
            assertEquals(0, doc.path("groups").get(0).path("consumers").asInt(-1));

            Spawned table = nsq.spawn(Spawned.java("wakeup", "status", "--socket-dir", run.sockets.toString(),
                "--nsqd-http", "127.0.0.1:" + NsqFixture.freePort()), Map.of());
            assertEquals(1, table.waitFor(WAIT), table.stderr());
            assertTrue(table.stdout().contains("not running"), table.stdout());
            assertTrue(table.stdout().lines().anyMatch(l -> l.matches("g\\s+\\?\\s+listening\\s+\\?.*")),
                table.stdout());
        }
    }

    @Test void theKernelTableTellsAListeningSocketFromAStaleOne() throws Exception {
        try (WakeupRun run = new WakeupRun()) {
            run.listen("up");
            WakeSocket.Listener.bind(run.sockets.resolve("stale.sock")).close();
            Set<String> listening = SocketDir.listening();
            assertNotNull(listening, "/proc/net/unix readable");
            assertTrue(listening.contains(run.sockets.resolve("up.sock").toString()));
            assertFalse(listening.contains(run.sockets.resolve("stale.sock").toString()));
        }
    }

    StatusReport.Report report(Path dir) {
        return StatusReport.collect(dir, List.of(nsq.httpAddress()), null, null);
    }

    static Map<String, StatusReport.Row> rows(StatusReport.Report r) {
        return r.groups().stream().collect(Collectors.toMap(StatusReport.Row::group, Function.identity()));
    }

    static void assertRow(StatusReport.Row row, String socket, boolean consumer, long depth, long deferred) {
        assertEquals(socket, row.socket(), row.group());
        assertEquals(consumer, row.consumerRunning(), row.group() + " consumer");
        assertEquals(depth, row.depth(), row.group() + " depth");
        assertEquals(deferred, row.deferred(), row.group() + " deferred");
    }
}
