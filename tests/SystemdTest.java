import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import nsq.http.NsqHttp;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.parallel.Execution;
import org.junit.jupiter.api.parallel.ExecutionMode;
import util.Json;

/**
 * The units under Debian's systemd 252 as PID 1 (systemd-nspawn), installed by `DESTDIR=<root> make
 * reload-systemd-consumer`, against nsqd on this machine's loopback. One host holds a group per scenario
 * and the scenarios run at once; a second host joins it for the two-host group. Every exit of a consumer
 * (idle, --count, systemctl stop, a fatal error, SIGKILL) leaves its .socket unit listening, and the next
 * wake starts it again (issue 19: junixsocket's close() shut systemd's socket down, and systemd failed the
 * unit on POLLHUP). A failure carries the units' journal.
 */
@Tag("systemd")
@ExtendWith(SystemdTier.Available.class)
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@Execution(ExecutionMode.CONCURRENT)
@Timeout(300)
class SystemdTest {
    static final Duration WAIT = Duration.ofSeconds(120);
    static final String SEED_SOCKET = "mqueue-consumer-nsq.socket", SEED_SERVICE = "mqueue-consumer-nsq.service";
    static final String SLOW = "\"sleep 0.5; cat; echo\""; // a command per message, slow enough to be caught mid-drain

    /** Template groups of the first host: name -> stream and env settings. */
    static final Map<String, Map<String, String>> GROUPS = new LinkedHashMap<>();
    static {
        GROUPS.put("stopped", Map.of("STREAM", "stopped", "EXEC", SLOW, "CONCURRENCY", "2", "NSQ_MSG_TIMEOUT", "10m"));
        GROUPS.put("killed", Map.of("STREAM", "killed", "EXEC", SLOW, "CONCURRENCY", "2", "NSQ_MSG_TIMEOUT", "3s"));
        GROUPS.put("fan1", Map.of("STREAM", "fan-a"));
        GROUPS.put("fan2", Map.of("STREAM", "fan-a"));
        GROUPS.put("fan3", Map.of("STREAM", "fan-b"));
        GROUPS.put("counted", Map.of("STREAM", "counted", "CONSUMER_OPTS", "\"--count 3\""));
        GROUPS.put("fatal", Map.of("STREAM", "fatal", "NSQD_TCP_ADDRESS", "HTTP")); // nsqd's HTTP port: not NSQ, exit 1
        GROUPS.put("warned", Map.of("STREAM", "warned", "EXEC", "\"cat; echo\"", "CONSUMER_OPTS",
            "\"--exec-timeout 20m\""));
        GROUPS.put("refused", Map.of("STREAM", "refused", "NSQD_TCP_ADDRESS", "HTTP"));
        GROUPS.put("named", Map.of("STREAM", "named"));
        GROUPS.put("often", Map.of("STREAM", "often", "TIMEOUT", "1"));
        GROUPS.put("split", Map.of("STREAM", "split", "EXEC", "\"sleep 0.05; cat; echo\"", "CONCURRENCY", "2"));
    }

    Path dir;
    NsqFixture.ProcessDaemon nsqd;
    Nspawn one, two;
    final List<Nspawn> hosts = new java.util.concurrent.CopyOnWriteArrayList<>(); // every one made, booted or not

    @BeforeAll
    @Timeout(600)
    void boot() throws Exception {
        Packaged.ensure(); // the install copies the checkout's fresh jars
        dir = Files.createTempDirectory("mqueue-systemd-");
        nsqd = SystemdTier.nsqd(dir, "nsqd");
        CompletableFuture<Nspawn> first = CompletableFuture.supplyAsync(() -> host("one", true, GROUPS.keySet()));
        CompletableFuture<Nspawn> second = CompletableFuture.supplyAsync(() -> host("two", false, List.of("split")));
        // both done (@AfterAll closes what was made)
        CompletableFuture.allOf(first, second).exceptionally(failed -> null).join();
        one = first.join();
        two = second.join();
        // An enabled socket whose group has no channel (and no env file): the wakeup warns once.
        one.systemctl("enable", "--now", "mqueue-consumer-nsq@orphan.socket");
    }

    /**
     * A host with these template groups (and the seed group, stream "rounds", when {@code seed}), units enabled, the
     * wakeup running.
     */
    Nspawn host(String name, boolean seed, Iterable<String> groups) {
        try {
            Nspawn h = Nspawn.create(dir, name);
            hosts.add(h);
            List<String> sockets = new ArrayList<>(List.of("mqueue-wakeup.service"));
            if (seed) sockets.add(SEED_SOCKET);
            for (String g : groups) {
                Map<String, String> settings = new LinkedHashMap<>(GROUPS.get(g));
                String stream = settings.remove("STREAM");
                settings.putIfAbsent("TIMEOUT", "2");
                if ("HTTP".equals(settings.get("NSQD_TCP_ADDRESS"))) settings.put("NSQD_TCP_ADDRESS",
                    nsqd.httpAddress().toString());
                h.write("etc/mqueue/" + g + ".env", SystemdTier.groupEnv(nsqd, stream, settings));
                sockets.add("mqueue-consumer-nsq@" + g + ".socket");
            }
            h.install(Map.of("STREAM", "rounds", "TIMEOUT", "2", "NSQD_TCP_ADDRESS", nsqd.tcp().toString(),
                "NSQD_HTTP_ADDRESS", nsqd.httpAddress().toString()));
            h.boot();
            List<String> enable = new ArrayList<>(List.of("enable", "--now"));
            enable.addAll(sockets);
            h.systemctl(enable.toArray(String[]::new));
            return h;
        } catch (IOException | InterruptedException e) {
            throw new IllegalStateException("host " + name + ": " + e, e);
        }
    }

    @AfterAll
    void shutDown() throws Exception {
        for (Nspawn h : hosts) h.close();
        if (nsqd != null) nsqd.stop();
        if (dir != null) Nspawn.deleteTree(dir);
    }

    /** A POST to nsqd's HTTP API (an endpoint NsqHttp has no call for). */
    static void post(NsqFixture.Daemon nsqd, String pathAndQuery) throws IOException, InterruptedException {
        var response = java.net.http.HttpClient.newHttpClient().send(java.net.http.HttpRequest.newBuilder(
                java.net.URI.create("http://" + nsqd.httpAddress()
                    + pathAndQuery)).POST(java.net.http.HttpRequest.BodyPublishers.noBody()).build(),
            java.net.http.HttpResponse.BodyHandlers.ofString());
        assertEquals(200, response.statusCode(), pathAndQuery + ": " + response.body());
    }

    static String service(String group) { return "mqueue-consumer-nsq@" + group + ".service"; }
    static String socket(String group) { return "mqueue-consumer-nsq@" + group + ".socket"; }
    static String ident(String group) { return "mqueue-consumer@" + group; }

    void publish(String stream, String prefix, int n) throws IOException { nsqd.publish(stream,
        NsqFixture.bodies(prefix, n)); }

    NsqHttp.ChannelStats channel(String stream, String group) throws IOException { return nsqd.channel(stream, group); }

    Set<String> handled(Nspawn host, String group, String prefix) throws IOException, InterruptedException {
        return SystemdTier.bodies(host.lines(ident(group)), prefix);
    }

    static Set<String> expected(String prefix, int n) { return new HashSet<>(NsqFixture.bodies(prefix, n)); }

    // ---- Deliver 1 and 2: wake, drain, exit, and the socket stays

    @Test void idleExitLeavesTheSocketListeningAndTheNextWakeStartsItThreeRounds() throws Exception {
        String[] units = {SEED_SOCKET, SEED_SERVICE, "mqueue-wakeup.service"};
        for (int round = 1; round <= 3; round++) {
            String prefix = "round" + round + "-";
            publish("rounds", prefix, 5);
            int r = round;
            one.await("round " + r + ": the 5 messages in the journal", WAIT,
                () -> SystemdTier.bodies(one.lines("mqueue-consumer@sa-consumer"), prefix).equals(expected(prefix, 5)),
                    units);
            one.await("round " + r + ": the consumer exits idle", WAIT,
                () -> SystemdTier.idleExits(one.lines("mqueue-consumer@sa-consumer")) == r
                    && one.state(SEED_SERVICE).equals("inactive dead"), units);
            one.assertListening(SEED_SOCKET, SEED_SERVICE);
        }
        assertEquals(3, SystemdTier.starts(one, SEED_SERVICE), "one start per wake" + one.journal(60, units));
    }

    @Test void stopMidDrainRequeuesAtOnceAndTheSocketStaysListening() throws Exception {
        String g = "stopped";
        publish(g, "s-", 30);
        one.await("the consumer is draining (3 handled)", WAIT, () -> handled(one, g, "s-").size() >= 3, socket(g),
            service(g));
        one.systemctl("stop", service(g)); // SIGTERM, and waits for the exit
        int afterStop = handled(one, g, "s-").size();
        assertTrue(afterStop < 30, "stopped mid-drain (" + afterStop + " of 30 handled)");
        one.assertListening(socket(g), service(g));
        String summary = one.lines(ident(g)).stream().filter(l -> l.startsWith("summary: ")).findFirst().orElse("");
        assertTrue(summary.matches("summary: received=\\d+ finished=\\d+ requeued=[1-9].*"),
            "the drain handed back what it had not handled: " + summary + one.journal(40, service(g)));
        // The next wake (the wakeup sees the backlog) starts it again and it finishes the rest. nsqd had to time
        // out none of them: with a 10 min msg-timeout, anything not requeued at once would still be in flight.
        one.await("all 30 handled after the stop", WAIT, () -> handled(one, g, "s-").equals(expected("s-", 30)),
            socket(g), service(g));
        NsqHttp.ChannelStats c = channel(g, g);
        assertEquals(0, c.timeoutCount(), "no message waited for nsqd's msg-timeout");
        assertTrue(c.requeueCount() >= 1, "requeued on stop: " + c);
        assertTrue(SystemdTier.starts(one, service(g)) >= 2, "started again after the stop" + one.journal(40,
            service(g)));
    }

    @Test void sigkillMidDrainLosesNothing() throws Exception {
        String g = "killed";
        publish(g, "k-", 30);
        one.await("the consumer is draining (3 handled)", WAIT, () -> handled(one, g, "k-").size() >= 3, socket(g),
            service(g));
        String pid = one.systemctl("show", "--property=MainPID", "--value", service(g)).strip();
        one.systemctl("kill", "--kill-whom=main", "--signal=SIGKILL", service(g));
        one.await("the consumer (pid " + pid + ") is gone", WAIT,
            () -> !pid.equals(one.systemctl("show", "--property=MainPID", "--value", service(g)).strip()), service(g));
        assertTrue(handled(one, g, "k-").size() < 30, "killed mid-drain");
        one.assertListening(socket(g), service(g));
        // What it held comes back at its 3 s msg-timeout; the wakeup wakes the group for it.
        one.await("every one of the 30 handled", WAIT, () -> handled(one, g, "k-").equals(expected("k-", 30)),
            socket(g), service(g));
        one.await("nothing left in nsqd", WAIT, () -> channel(g, g).depth() + channel(g, g).inFlightCount() == 0,
            service(g));
    }

    /**
     * Short runs woken one after another (TIMEOUT=1, a message each time) start the service more often than
     * systemd's default start limit allows (5 in 10 s), which would fail the .socket unit with it.
     */
    @Test void aGroupWokenAgainAndAgainKeepsWaking() throws Exception {
        String g = "often";
        for (int round = 0; round < 8; round++) {
            int r = round;
            one.await("run " + r + " has exited", WAIT, () -> SystemdTier.idleExits(one.lines(ident(g))) == r
                && List.of("inactive dead", "failed failed").contains(one.state(service(g))), socket(g), service(g));
            publish(g, "o" + r + "-", 1);
            one.await("run " + r + " handled its message", WAIT, () -> handled(one, g, "o" + r + "-").size() == 1,
                socket(g), service(g));
        }
        one.assertListening(socket(g), service(g));
        assertEquals(8, SystemdTier.starts(one, service(g)), "one start per wake" + one.journal(40, service(g)));
    }

    @Test void countExitLeavesTheSocketListening() throws Exception {
        String g = "counted";
        publish(g, "c-", 5);
        one.await("all 5 handled by runs of --count 3", WAIT, () -> handled(one, g, "c-").equals(expected("c-", 5)),
            socket(g), service(g));
        assertTrue(one.lines(ident(g)).stream().anyMatch(l -> l.matches("summary: received=\\d+ finished=3 .*")),
            "a run ended at its --count" + one.journal(40, service(g)));
        assertTrue(SystemdTier.starts(one, service(g)) >= 2, "the socket started it again after the --count exit"
            + one.journal(40, service(g)));
        one.assertListening(socket(g), service(g));
    }

    @Test void aFatalErrorExitsOneAndLeavesTheSocketListening() throws Exception {
        String g = "fatal";
        publish(g, "f-", 1);
        one.await("the consumer failed", WAIT, () -> one.journalctl("--unit=" + service(g), "--output=cat")
            .contains("Main process exited, code=exited, status=1/FAILURE"), socket(g), service(g));
        one.assertListening(socket(g), service(g));
        post(nsqd, "/channel/empty?topic=" + g + "&channel=" + g); // no more wakes for it
    }

    @Test void templatedGroupsAreWokenOnlyForTheirOwnStream() throws Exception {
        String[] units = {service("fan1"), service("fan2"), service("fan3"), "mqueue-wakeup.service"};
        publish("fan-b", "b-", 4);
        one.await("fan3 handled fan-b's 4", WAIT, () -> handled(one, "fan3", "b-").equals(expected("b-", 4)), units);
        assertEquals(0, SystemdTier.starts(one, service("fan1")) + SystemdTier.starts(one, service("fan2")),
            "fan1 and fan2 (stream fan-a) were not woken for fan-b" + one.journal(40, units));
        publish("fan-a", "a-", 4);
        for (String g : List.of("fan1", "fan2")) {
            one.await(g + " handled fan-a's 4 (every group gets every message)", WAIT, () -> handled(one, g,
                "a-").equals(expected("a-", 4)), units);
        }
        assertTrue(handled(one, "fan1", "b-").isEmpty() && handled(one, "fan2", "b-").isEmpty() && handled(one, "fan3",
            "a-").isEmpty(),
            "each group read only its own stream");
        assertEquals(1, SystemdTier.starts(one, service("fan3")), "fan3 was not woken for fan-a" + one.journal(40,
            units));
    }

    // ---- journald

    @Test void journalFilesWarningsAndErrorsByPriority() throws Exception {
        publish("warned", "w-", 1);
        publish("refused", "e-", 1);
        one.await("the consumer of warned warned", WAIT,
            () -> one.lines(ident("warned")).stream().anyMatch(l -> l.startsWith("warning: --exec-timeout")),
            service("warned"));
        one.await("the consumer of refused logged its error", WAIT,
            () -> one.lines(ident("refused")).stream().anyMatch(l -> l.startsWith("error: ")),
            service("refused"));
        one.await("the wakeup warned about the socket without a channel", WAIT,
            () -> one.lines("mqueue-wakeup").stream().anyMatch(l -> l.startsWith("warning: ") && l.contains("orphan")),
                "mqueue-wakeup.service");

        String warnings = one.journalctl("--priority=warning", "--identifier=" + ident("warned"), "--identifier="
            + ident("refused"),
            "--identifier=mqueue-wakeup", "--output=cat");
        for (String want : List.of("warning: --exec-timeout", "error: ")) assertTrue(warnings.contains(want),
            "-p warning shows '" + want + "': " + warnings);
        assertTrue(warnings.lines().anyMatch(l -> l.startsWith("warning: ") && l.contains("orphan")), warnings);
        for (String info : List.of("reading warned as group warned", "w-0", "watching nsqd")) {
            assertFalse(warnings.contains(info), "-p warning leaves out the info line '" + info + "': " + warnings);
        }
        Map<String, String> priority = priorities(ident("warned"));
        assertEquals("4", priority.get("warning: --exec-timeout"), priority.toString());
        assertEquals("6", priority.get("reading warned as group warned"), priority.toString());
        assertEquals("6", priority.get("w-0"), "a message body is data, at info: " + priority);
        assertEquals("3", priorities(ident("refused")).get("error: "), priorities(ident("refused")).toString());
        post(nsqd, "/channel/empty?topic=refused&channel=refused"); // no more wakes for it
    }

    /** PRIORITY of the first line that starts with each distinct prefix a test looks for (line prefix -> priority). */
    Map<String, String> priorities(String identifier) throws Exception {
        Map<String, String> out = new LinkedHashMap<>();
        for (String json : one.journalctl("--identifier=" + identifier, "--output=json").split("\n")) {
            if (json.isBlank()) continue;
            JsonNode e = Json.MAPPER.readTree(json);
            String msg = e.path("MESSAGE").asText();
            for (String p : List.of("warning: --exec-timeout", "reading warned as group warned", "w-0", "error: ")) {
                if (msg.startsWith(p)) out.putIfAbsent(p, e.path("PRIORITY").asText());
            }
        }
        return out;
    }

    @Test void journalLinesNameTheirRoleAndGroup() throws Exception {
        publish("named", "n-", 2);
        one.await("named's 2 messages", WAIT, () -> handled(one, "named", "n-").equals(expected("n-", 2)),
            service("named"));
        Map<String, String> units = Map.of(service("named"), ident("named"), "mqueue-wakeup.service", "mqueue-wakeup");
        for (Map.Entry<String, String> u : units.entrySet()) {
            Set<String> identifiers = new HashSet<>();
            for (String json : one.journalctl("--unit=" + u.getKey(), "--output=json").split("\n")) {
                if (json.isBlank()) continue;
                JsonNode e = Json.MAPPER.readTree(json);
                if (e.path("_TRANSPORT").asText().equals("stdout")) identifiers.add(e.path("SYSLOG_IDENTIFIER")
                    .asText());
            }
            assertEquals(Set.of(u.getValue()), identifiers, u.getKey()
                + ": every line it wrote is named after its role and group");
        }
        assertEquals("mqueue-consumer@sa-consumer", one.systemctl("show", "--property=SyslogIdentifier", "--value",
            SEED_SERVICE).strip());
    }

    // ---- Deliver 3: two hosts, one group

    @Test void twoHostsSplitOneGroupAndLoseNothing() throws Exception {
        String g = "split";
        // Each host's wakeup has its own copy of the stream: a shared ephemeral channel would split the pushes.
        for (Nspawn host : List.of(one, two)) {
            String own = wake.PushFollower.ownChannel(host.name);
            one.await(host.name + "'s wakeup follows stream split on " + own, WAIT,
                () -> channel(g, own) != null && channel(g, own).clientCount() == 1, "mqueue-wakeup.service");
        }
        List<String> all = NsqFixture.bodies("x-", 1000);
        for (int i = 0; i < all.size(); i += 250) nsqd.publish(g, all.subList(i, i + 250));
        Await.until("all 1,000 handled across the two hosts", Duration.ofSeconds(240), () -> {
            Set<String> union = new HashSet<>(handled(one, g, "x-"));
            union.addAll(handled(two, g, "x-"));
            return union.size() == 1000;
        });
        int onOne = handled(one, g, "x-").size(), onTwo = handled(two, g, "x-").size();
        assertTrue(onOne > 0 && onTwo > 0, "both hosts' consumers woke and took a share: " + onOne + " + " + onTwo
            + one.journal(20, service(g)) + two.journal(20, service(g)));
        for (Nspawn h : List.of(one, two)) {
            h.await("its consumer exits idle", WAIT,
                () -> SystemdTier.idleExits(h.lines(ident(g))) >= 1 && h.state(service(g)).equals("inactive dead"),
                    service(g));
            h.assertListening(socket(g), service(g));
        }
        NsqHttp.ChannelStats c = channel(g, g);
        assertEquals(0, c.depth() + c.inFlightCount(), "nothing left in nsqd: " + c);
    }
}
