import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * A host installed the way the README has an admin do it on a machine whose PID 1 is systemd: `make
 * reload-systemd-consumer` run inside the live container from a checkout (no DESTDIR), which packages,
 * trains the AOT cache (or CDS archive) for the installed paths, creates users, topics and channels and
 * reloads systemd. Then the container reboots with the units enabled: groups wake with no manual step.
 */
@Tag("systemd")
@ExtendWith(SystemdTier.Available.class)
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
@Timeout(300)
class SystemdLiveInstallTest {
    static final Duration WAIT = Duration.ofSeconds(120);
    static final String SOCKET = "mqueue-consumer-nsq.socket", SERVICE = "mqueue-consumer-nsq.service",
        IDENT = "mqueue-consumer@sa-consumer";

    Path dir;
    NsqFixture.ProcessDaemon nsqd;
    Nspawn host;
    volatile boolean installed;

    @BeforeAll
    @Timeout(600)
    void boot() throws Exception {
        Packaged.ensure();
        dir = Files.createTempDirectory("mqueue-systemd-live-");
        nsqd = SystemdTier.nsqd(dir, "nsqd");
        Path home = Path.of(System.getProperty("user.home"));
        // The checkout, and what it builds with when its own package is stale (JBang's jars, the Maven repository).
        host = Nspawn.create(dir,
            "live").bindRo(Nspawn.REPO).bindRo(home.resolve(".m2")).bindRo(home.resolve(".cache/mqueue"));
        host.boot();
    }

    @AfterAll
    void shutDown() throws Exception {
        if (host != null) host.close();
        if (nsqd != null) nsqd.stop();
        if (dir != null) Nspawn.deleteTree(dir);
    }

    @Test @Order(1) @Timeout(900)
    void makeReloadSystemdConsumerInsideTheLiveHostTrainsTheAotCache() throws Exception {
        // A JDK on PATH, as on a host where Java is installed (here: the one bound in from this machine).
        Path jdk = Path.of(Files.readString(Nspawn.REPO.resolve("build/current/java")).strip()).getParent();
        Nspawn.Result make = host.exec(Duration.ofMinutes(12), Map.of("STREAM", "rebooted", "TIMEOUT", "2",
                "NSQD_TCP_ADDRESS", nsqd.tcp().toString(), "NSQD_HTTP_ADDRESS", nsqd.httpAddress().toString(),
                "PATH", jdk + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"),
            "make", "-C", Nspawn.REPO.toString(), "--no-print-directory", "reload-systemd-consumer");
        assertEquals(0, make.code(), "make reload-systemd-consumer inside the container:\n" + make.both());
        assertTrue(make.err().contains("systemctl enable --now"), "it reloaded systemd itself: " + make.err());
        Path current = host.file("opt/mqueue/build/current");
        // JDK >= 24: an AOT cache; 17-23: an AppCDS archive.
        assertTrue(Stream.of("consumer.aot",
            "consumer.jsa").map(current::resolve).anyMatch(f -> f.toFile().length() > 0),
            "the training run left the consumer its AOT cache or CDS archive: " + make.err());
        installed = true;

        host.systemctl("enable", "--now", SOCKET, "mqueue-wakeup.service");
        nsqd.publish("rebooted", NsqFixture.bodies("before-", 3));
        host.await("the consumer handled the 3", WAIT, () -> SystemdTier.bodies(host.lines(IDENT),
            "before-").size() == 3, SOCKET, SERVICE);
        // bin/mqueue starts it with that archive; a JVM that refused it would have said so on stderr, in the journal.
        assertTrue(host.lines(IDENT).stream().noneMatch(l -> l.matches("(?i).*\\b(aot|cds|shared archive)\\b.*")),
            host.journal(40, SERVICE));
    }

    @Test @Order(2) @Timeout(600)
    void groupsWakeAfterARebootWithNoManualStep() throws Exception {
        Assumptions.assumeTrue(installed, "needs the live install of the test before");
        host.reboot();
        nsqd.publish("rebooted", NsqFixture.bodies("after-", 3));
        host.await("after the reboot the group woke and handled the 3", WAIT,
            () -> SystemdTier.bodies(host.lines(IDENT), "after-").size() == 3, SOCKET, SERVICE,
                "mqueue-wakeup.service");
        assertTrue(SystemdTier.starts(host, SERVICE) >= 1, "started in this boot" + host.journal(40, SERVICE));
        host.assertListening(SOCKET, SERVICE);
    }
}
