import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * `make bench` cannot rot: every case of bench/Bench.java runs at a tiny size (--smoke, ~25 s once
 * built) against real nsqd and the Go tools, and writes its table. Only that it ran is checked:
 * a smoke run's numbers mean nothing, and tests never assert on speed.
 */
@Tag("process")
class BenchSmokeTest {
    @Test
    @Timeout(value = 5, unit = TimeUnit.MINUTES) // a cold CI run compiles the bench and the three scripts first
    void everyCaseRunsAtATinySizeAndWritesItsRow() throws Exception {
        Path tmp = Files.createTempDirectory("mq-bench-");
        try {
            Path results = tmp.resolve("RESULTS.md");
            Spawned bench = Spawned.start(tmp, List.of("./jbang", "bench/Bench.java", "--smoke", "--out",
                results.toString()),
                Map.of("TMPDIR", tmp.toString()));
            int rc;
            try {
                rc = bench.waitFor(Duration.ofMinutes(4));
            } finally {
                bench.kill();
            }
            assertEquals(0, rc, "bench --smoke failed:\n" + bench.stdout() + "\n" + bench.stderr());
            String md = Files.readString(results);
            for (String row : List.of("| publish 200 B",
                "| publish ~1 MiB (MPUB 4, 2 connections each, 1 s), --payload-keys 1000",
                    "--size 1024100 |", "| consume 200 B", "| consume ~1 MiB", "| consumer RSS at full speed, 200 B",
                    "| handle 200 B with a handler that does nothing",
                        "socket-backed groups over 2 streams on 2 nsqd: CPU |", ": one scan |", ": publish -> wake |",
                        "| latency",
                    "| herd: 3 groups x 5 messages waiting, one wakeup wakes them all: every message handled |",
                        ": peak RSS sum |",
                    ": nothing lost | before: 15 of 15 | 15 of 15 |")) {
                assertTrue(md.contains(row.replace("2 connections", Runtime.getRuntime().availableProcessors()
                    + " connections")),
                    "a row with '" + row + "' in:\n" + md);
            }
            assertFalse(md.contains("**failed**"), md);
            assertTrue(md.contains("## Machine") && md.contains("nsqd v1.3.0") && md.contains("--rate max --size 200"),
                md);
        } finally {
            try (Stream<Path> files = Files.walk(tmp)) {
                files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }
}
