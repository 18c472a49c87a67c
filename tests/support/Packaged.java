import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.concurrent.TimeUnit;

/**
 * The package bin/mqueue starts the tools from (scripts/package), made once per run before a test
 * spawns a make target that uses it. The targets package on their own when a source is newer, and
 * say so on stderr; a test that checks a target's stderr line by line, or bounds its time, must not
 * see that first packaging (a training run on a cold machine takes a minute or more).
 */
final class Packaged {
    private static boolean done;

    private Packaged() {}

    static synchronized void ensure() throws Exception {
        if (done) return;
        Process p = new ProcessBuilder("scripts/package").directory(NsqBinaries.repoRoot().toFile())
            .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        if (!p.waitFor(10, TimeUnit.MINUTES)) {
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
            throw new AssertionError("scripts/package did not finish in 10 minutes");
        }
        assertEquals(0, p.exitValue(), "scripts/package failed (run it to see why)");
        done = true;
    }
}
