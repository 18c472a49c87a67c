import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import util.Json;

/**
 * A user's handler script under systemd 252 as PID 1 (systemd-nspawn), installed as the README has an admin
 * do it: the units by `make reload-systemd-consumer`, then, inside the live host, `make install-handler
 * NAME=sums SCRIPT=/srv/mqueue/sums.java` for examples/sum.java naming the installed front door
 * (/opt/mqueue/lib/Nsq.java). mqueue-handler@sums is woken by the wakeup, handles what waits, exits idle
 * and leaves its socket listening: started from its package (RUN=package), then through JBang (RUN=jbang,
 * with the package's jar moved away, so nothing else could have run it). Each cold wake (publish -> the
 * handler's line in the journal, by the journal's own timestamp) is printed, not asserted.
 */
@Tag("systemd")
@ExtendWith(SystemdTier.Available.class)
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@Timeout(900)
class SystemdHandlerTest {
    static final Duration WAIT = Duration.ofSeconds(120);
    static final String NAME = "sums", SOCKET = "mqueue-handler@sums.socket", SERVICE = "mqueue-handler@sums.service",
        IDENT = "mqueue-handler@sums";

    Path dir;
    NsqFixture.ProcessDaemon nsqd;
    Nspawn host;

    @BeforeAll
    @Timeout(600)
    void boot() throws Exception {
        Packaged.ensure(); // the install copies the checkout's fresh jars
        dir = Files.createTempDirectory("mqueue-systemd-handler-");
        nsqd = SystemdTier.nsqd(dir, "nsqd");
        Path home = Path.of(System.getProperty("user.home"));
        // The checkout, and what install-handler builds with (JBang's jars, the Maven repository), read-only.
        host = Nspawn.create(dir,
            "handler").bindRo(Nspawn.REPO).bindRo(home.resolve(".m2")).bindRo(home.resolve(".cache/mqueue"));
        host.install(Map.of("STREAM", "unused", "TIMEOUT", "2", "NSQD_TCP_ADDRESS", nsqd.tcp().toString(),
            "NSQD_HTTP_ADDRESS", nsqd.httpAddress().toString()));
        host.write("srv/mqueue/sums.java", Files.readString(Nspawn.REPO.resolve("examples/sum.java"))
            .replace("//SOURCES ../lib/Nsq.java", "//SOURCES /opt/mqueue/lib/Nsq.java").replace("public class sum ",
            "public class sums ")
            .replace("sum s = new sum();", "sums s = new sums();"));
        host.boot();
    }

    @AfterAll
    void shutDown() throws Exception {
        if (host != null) host.close();
        if (nsqd != null) nsqd.stop();
        if (dir != null) Nspawn.deleteTree(dir);
    }

    @Test void aHandlerScriptIsWokenFromItsPackageAndThroughJBangAndExitsIdleEachTime() throws Exception {
        Path jdk = Path.of(Files.readString(Nspawn.REPO.resolve("build/current/java")).strip()).getParent();
        Nspawn.Result install = host.exec(Duration.ofMinutes(12), Map.of("NAME", NAME, "SCRIPT",
            "/srv/mqueue/sums.java", "STREAM", "sums",
                "TIMEOUT", "2", "NSQD_TCP_ADDRESS", nsqd.tcp().toString(), "NSQD_HTTP_ADDRESS",
                    nsqd.httpAddress().toString(),
                "PATH", jdk + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"),
            "make", "-C", Nspawn.REPO.toString(), "--no-print-directory", "install-handler");
        assertEquals(0, install.code(), "make install-handler inside the host:\n" + install.both());
        Path current = host.file("opt/mqueue/handlers/sums/current");
        assertTrue(Files.exists(current.resolve("sums.jar")), install.both());
        assertTrue(Files.exists(current.resolve("sums.aot")) || Files.exists(current.resolve("sums.jsa")), "trained: "
            + install.both());
        assertTrue(Files.isDirectory(host.file("opt/mqueue/handlers/sums/jbang/cache")), "JBang's cache built: "
            + install.both());
        host.systemctl("enable", "--now", SOCKET, "mqueue-wakeup.service");

        List<Long> packaged = new ArrayList<>(), jbang = new ArrayList<>();
        int round = 0;
        for (int i = 0; i < WAKES; i++) packaged.add(round(++round));
        host.assertListening(SOCKET, SERVICE);

        // RUN=jbang, and the package's jar out of the way: a start that worked went through JBang.
        Path env = host.file("etc/mqueue/sums.env");
        Files.writeString(env, Files.readString(env).replaceAll("(?m)^RUN=.*$", "RUN=jbang"));
        Files.move(current.resolve("sums.jar"), current.resolve("sums.jar.off"));
        for (int i = 0; i < WAKES; i++) jbang.add(round(++round));
        host.assertListening(SOCKET, SERVICE);
        assertEquals(2 * WAKES, SystemdTier.starts(host, SERVICE), "one start per wake" + host.journal(60, SERVICE));
        System.out.printf("cold wake under systemd, publish -> the handler's line in the journal (ms): package %s, "
            + "JBang %s%n", packaged, jbang);
    }

    /** Wakes per way of starting (MQUEUE_HANDLER_WAKES; 1 in the suite, more to measure). */
    static final int WAKES = Integer.parseInt(System.getenv().getOrDefault("MQUEUE_HANDLER_WAKES", "1"));

    /**
     * Publishes three events (seq 100n+1..100n+3, a total no other round prints), waits for the handler's total and
     * its idle exit; the ms from publish to that line, by the journal's clock.
     */
    long round(int n) throws Exception {
        List<String> events = new ArrayList<>();
        for (int s = 100 * n + 1; s <= 100 * n + 3; s++) events.add("{\"producer\":\"p\",\"seq\":" + s + "}");
        String line = "sums seq total " + (300 * n + 6);
        long published = System.currentTimeMillis() * 1000;
        nsqd.publish("sums", events);
        host.await("round " + n + ": '" + line + "' in the journal", WAIT, () -> lineAt(line) > 0, SOCKET, SERVICE,
            "mqueue-wakeup.service");
        host.await("round " + n + ": the handler exits idle", WAIT,
            () -> SystemdTier.idleExits(host.lines(IDENT)) == n && host.state(SERVICE).equals("inactive dead"), SOCKET,
                SERVICE);
        return (lineAt(line) - published) / 1000;
    }

    /** The journal's own time (us since the epoch) of the handler's line, 0 while there is none. */
    long lineAt(String line) throws Exception {
        for (String j : host.journalctl("--identifier=" + IDENT, "--output=json").split("\n")) {
            if (j.isBlank()) continue;
            JsonNode e = Json.MAPPER.readTree(j);
            if (line.equals(e.path("MESSAGE").asText())) return Long.parseLong(e.path("__REALTIME_TIMESTAMP").asText());
        }
        return 0;
    }
}
