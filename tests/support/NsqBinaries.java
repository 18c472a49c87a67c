import java.nio.file.Files;
import java.nio.file.Path;

/** Finds NSQ's binaries the way scripts/install-nsq does: NSQD_BIN's directory, the repo's .nsq/bin, PATH. */
final class NsqBinaries {
    private NsqBinaries() {}

    static final String HINT = "no nsqd v1.3 found: run scripts/install-nsq (builds it with Go), "
        + "put NSQ's v1.3.0 release binaries on PATH or in NSQD_BIN, or run the tests where a Docker engine answers";

    static Path repoRoot() {
        String prop = System.getProperty("mqueue.root");
        if (prop != null) return Path.of(prop);
        for (Path p = Path.of("").toAbsolutePath(); p != null; p = p.getParent()) {
            if (Files.exists(p.resolve("jbang-catalog.json"))) return p;
        }
        return Path.of("").toAbsolutePath();
    }

    /** The binary's path, or null. */
    static Path find(String name) {
        String nsqdBin = System.getenv("NSQD_BIN");
        if (nsqdBin != null && !nsqdBin.isBlank()) {
            Path p = Path.of(nsqdBin).toAbsolutePath().resolveSibling(name);
            if (Files.isExecutable(p)) return p;
        }
        Path local = repoRoot().resolve(".nsq/bin").resolve(name);
        if (Files.isExecutable(local)) return local;
        for (String dir : System.getenv().getOrDefault("PATH", "").split(":")) {
            if (dir.isEmpty()) continue;
            Path p = Path.of(dir, name);
            if (Files.isExecutable(p)) return p;
        }
        return null;
    }

    static Path path(String name) {
        Path p = find(name);
        if (p == null) throw new IllegalStateException(name + ": " + HINT);
        return p;
    }

    static void require() {
        path("nsqd");
    }

    /**
     * nsqd of an older NSQ release (e.g. v1.2.1) for interop tests: .nsq/VERSION/bin/nsqd, built once by
     * {@code scripts/install-nsq VERSION} (Go, ~10 s with a warm module cache; never committed).
     */
    static synchronized Path release(String version) {
        Path nsqd = repoRoot().resolve(".nsq").resolve(version).resolve("bin/nsqd");
        if (Files.isExecutable(nsqd)) return nsqd;
        try {
            Process p = new ProcessBuilder(repoRoot().resolve("scripts/install-nsq").toString(),
                version).inheritIO().start();
            if (!p.waitFor(10, java.util.concurrent.TimeUnit.MINUTES)) {
                p.destroyForcibly();
                throw new IllegalStateException("scripts/install-nsq " + version + " did not finish within 10 minutes");
            }
            if (p.exitValue() != 0 || !Files.isExecutable(nsqd)) {
                throw new IllegalStateException("scripts/install-nsq " + version + " exited " + p.exitValue()
                    + " without " + nsqd);
            }
        } catch (java.io.IOException e) {
            throw new IllegalStateException("cannot run scripts/install-nsq " + version + ": " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while building nsqd " + version, e);
        }
        return nsqd;
    }
}
