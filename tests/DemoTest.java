import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** `make demo` as a user runs it: exit 0, the table with every group at 20 and none lost, nothing left running. */
@Tag("process")
class DemoTest {
    @Test
    @Timeout(value = 15, unit = TimeUnit.MINUTES) // a cold CI run compiles three scripts first
    void makeDemoDeliversToEveryGroupAndCleansUp() throws Exception {
        Path tmp = Files.createTempDirectory("mq-demo-");
        try {
            // TMPDIR puts the demo's work dir under ours, so leftovers can be found by their command lines.
            Spawned demo = Spawned.start(tmp, List.of("make", "-s", "demo"), Map.of("TMPDIR", tmp.toString()));
            int rc;
            try {
                rc = demo.waitFor(Duration.ofMinutes(12));
            } finally {
                demo.kill();
            }
            String out = demo.stdout();
            assertEquals(0, rc, "make demo failed:\n" + out + "\n" + demo.stderr());
            for (String row : List.of("1 +1 +20 +0", "2 +1 +20 +0", "3 +2 \\(split \\d+\\+\\d+\\) +20 +0",
                    "sa-consumer +1 \\(woken \\d+x, exited idle\\) +20 +0")) {
                assertTrue(Pattern.compile("(?m)^" + row + "$").matcher(out).find(), "row '" + row + "' in:\n" + out);
            }
            assertTrue(out.contains("wakeup: woke sa-consumer for demo"), out);
            List<String> left = ProcessHandle.allProcesses()
                .filter(p -> p.info().commandLine().map(c -> c.contains(tmp.toString())).orElse(false))
                .map(p -> p.pid() + " " + p.info().commandLine().orElse("")).toList();
            assertEquals(List.of(), left, "processes the demo left running");
        } finally {
            try (Stream<Path> files = Files.walk(tmp)) {
                files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }
}
