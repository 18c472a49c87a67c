import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cli.Cli;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * nsqd's own limit, the exception README's Guarantees name: with its data dir full, nsqd acknowledges
 * a message into the stream, then cannot copy it into a group's channel ("failed to put msg ... to
 * channel" in its log) and drops it. No client can see that happen; the producer stays honest about
 * what nsqd did not acknowledge, and the consumer's --expect shows the gap (--verify alone cannot
 * see a drop at the tail: nothing arrived after it).
 *
 * <p>The data dir is a 4 MiB tmpfs this test mounts (it needs root, as CI runs) and nsqd keeps every
 * message on disk (--mem-queue-size=0). The drop is made certain, not left to a race between nsqd's
 * topic and channel writes: the group appears after ~65% of the disk holds the stream's backlog,
 * and nsqd copies that backlog into the group's own queue, which has room for half of it.
 */
class NsqdFullDiskTest {
    static final Duration WAIT = Duration.ofSeconds(60);
    static final int TMPFS_BYTES = 4 << 20, EVENT = 1024;

    @Test void aFullDiskDropsAcknowledgedMessagesAndExpectShowsTheGap() throws Exception {
        Assumptions.assumeTrue("root".equals(System.getProperty("user.name")),
            "mounting a tmpfs for nsqd's data needs root");
        Path dir = Files.createTempDirectory("mqueue-full-disk-");
        Path data = dir.resolve("data");
        Files.createDirectories(data);
        run("mount", "-t", "tmpfs", "-o", "size=" + (TMPFS_BYTES >> 20) + "m", "tmpfs", data.toString());
        NsqFixture.ProcessDaemon nsqd = null;
        try {
            int tcp = NsqFixture.freePort(), http = NsqFixture.freePort();
            nsqd = new NsqFixture.ProcessDaemon("nsqd", dir.resolve("log"), http,
                List.of(NsqBinaries.path("nsqd").toString(),
                "--tcp-address=127.0.0.1:" + tcp, "--http-address=127.0.0.1:" + http, "--data-path=" + data,
                    "--mem-queue-size=0"));
            nsqd.tcpPort = tcp;
            nsqd.start();
            String nsqdTcp = nsqd.tcp().toString();

            // 1. The stream's backlog, no group yet: everything acknowledged, on disk.
            int backlog = (int) (TMPFS_BYTES * 0.65 / (EVENT + 30)); // + nsqd's size prefix and message header
            producer first = new producer();
            assertEquals(0, Cli.run(first, "-s", "full", "--nsqd", nsqdTcp, "--size", String.valueOf(EVENT), "--count",
                String.valueOf(backlog), "--rate", "max"), "producer: " + first.failure());
            assertEquals(backlog, first.acked(), "all acknowledged while the disk had room");

            // 2. The group appears: nsqd copies the backlog into its channel's queue on the same disk, and runs out of
            // room.
            nsqd.http().createChannel("full", "g");
            NsqFixture.ProcessDaemon d = nsqd;
            Await.until("nsqd says it dropped messages it could not put to the channel", WAIT,
                () -> Files.readString(d.log).contains("failed to put msg"));
            Await.until("nsqd's topic has handed out its whole backlog (copied or dropped)", WAIT,
                () -> d.http().stats("full", null).topic("full").depth() == 0);

            // 3. A producer meeting the full disk is honest: exit 1, saying how many nsqd did not acknowledge.
            producer second = new producer();
            assertEquals(1, Cli.run(second, "-s", "full-too", "--nsqd", nsqdTcp, "--size", String.valueOf(EVENT),
                "--count", "50",
                "--rate", "max", "--retry-timeout", "2s"));
            assertEquals(0, second.acked());
            assertEquals(50, second.stats.notAcked(), "the summary's 'not acknowledged': " + second.failure());

            // 4. The consumer finds the gap: --expect counts seq 1..backlog of the one producer, and fails naming what
            // is missing.
            //    The drops are the backlog's tail, so --verify alone sees no gap (nothing arrived after them): only the
            //    producer's count, given as --expect, shows them.
            ConsumerRun c = new ConsumerRun("-s", "full", "-g", "g", "--nsqd", nsqdTcp, "--expect",
                String.valueOf(backlog), "--timeout", "2s");
            assertEquals(1, c.await(WAIT), "--expect fails the run");
            long received = c.received();
            assertTrue(received > 0 && received < backlog, "some copied, some dropped: received " + received + " of "
                + backlog);
            assertEquals(0, c.verifier().duplicates());
            String shortOf = c.verifier().shortOf(backlog);
            assertTrue(shortOf != null && shortOf.contains("(missing " + (backlog - received) + ", first seq "),
                shortOf);
        } catch (AssertionError | Exception e) {
            if (nsqd != null) nsqd.printLog();
            throw e;
        } finally {
            if (nsqd != null) nsqd.stop();
            run("umount", data.toString());
            TestCerts.delete(dir);
        }
    }

    private static void run(String... command) throws Exception {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        if (!p.waitFor(30, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError(String.join(" ", command) + ": no exit within 30 s");
        }
        assertEquals(0, p.exitValue(), String.join(" ", command) + ": " + out);
    }
}
