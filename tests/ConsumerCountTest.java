import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicBoolean;
import nsq.http.NsqHttp;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** --count with a pool of workers: exactly N handled and exit 0, whatever the workers' timing (issue 21). */
class ConsumerCountTest {
    @RegisterExtension final NsqFixture nsq = new NsqFixture();

    static final int RUNS = 50, AT_ONCE = 4, PUBLISHED = 30, COUNT = 10;

    /**
     * Each run: 30 messages, --count 10, four workers. Bodies ending in 8 or 9 fail on their first
     * attempt (requeued), so failures come while the last slots are taken (before the fix, 8 of 12
     * such runs of the packaged consumer hung with 9 finished, and this test failed); those ending in
     * 0 or 1 are slow. Fifty runs, four at a time on their own streams, in this JVM; after a failure
     * the runs not started yet are skipped.
     */
    @Test void countWithWorkersHandlesExactlyNAndExitsEveryTime() throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(AT_ONCE);
        AtomicBoolean failed = new AtomicBoolean();
        try {
            List<Future<?>> runs = new ArrayList<>();
            for (int i = 0; i < RUNS; i++) {
                int run = i;
                runs.add(pool.submit(() -> {
                    if (failed.get()) return null;
                    try {
                        oneRun(run);
                    } catch (Throwable t) {
                        failed.set(true);
                        throw t;
                    }
                    return null;
                }));
            }
            for (Future<?> f : runs) {
                try {
                    f.get();
                } catch (ExecutionException e) {
                    if (e.getCause() instanceof AssertionError a) throw a;
                    throw e;
                }
            }
        } finally {
            pool.shutdownNow();
        }
    }

    private void oneRun(int run) throws Exception {
        String stream = "count" + run;
        nsq.prepare(stream, "g");
        nsq.publish(stream, NsqFixture.bodies("m", PUBLISHED));
        Path ok = nsq.dir().resolve(stream + ".ok");
        String cmd = "b=$(cat); case \"$b\" in"
            + " *[89]) [ \"$MQ_ATTEMPTS\" -ge 2 ] || exit 1;;"
            + " *[01]) sleep 0.2;;"
            + " esac; echo \"$b\" >> " + ok;
        ConsumerRun r = new ConsumerRun("--nsqd", nsq.tcp().toString(), "-s", stream, "-g", "g", "--count",
            String.valueOf(COUNT),
            "--concurrency", "4", "--exec", cmd, "--backoff", "50ms/50ms");
        String what = "run " + run + ": ";
        int code;
        try {
            code = r.await(Duration.ofSeconds(30)); // no hang: fails (after stopping it) past this
        } catch (AssertionError hung) {
            throw new AssertionError(what + hung.getMessage() + " (received " + r.received() + ", finished "
                + r.finished()
                + ", requeued " + r.requeued() + ")", hung);
        }
        assertEquals(0, code, what + "exit code");
        assertEquals(COUNT, r.finished(), what + "finished");
        List<String> succeeded = Files.exists(ok) ? Files.readAllLines(ok) : List.of();
        assertEquals(r.finished(), succeeded.size(), what + "every command that exited 0 was finished, and only those: "
            + succeeded);
        // Nothing finished beyond the count, nothing lost: the rest is back in nsqd (waiting or deferred), none left in
        // flight.
        NsqHttp.ChannelStats c = nsq.channel(stream, "g");
        assertEquals(0, c.inFlightCount(), what + c);
        assertEquals(PUBLISHED - COUNT, c.depth() + c.deferredCount(), what + c);
    }
}
