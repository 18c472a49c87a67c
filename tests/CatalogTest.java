import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import util.Json;

/**
 * jbang-catalog.json as a user meets it, through ./jbang: each alias runs from the catalog
 * (`./jbang producer@<repo> --help`), and `jbang app install` puts producer, consumer and wakeup
 * on PATH as commands that run.
 */
@Tag("process")
class CatalogTest {
    static final Path ROOT = NsqBinaries.repoRoot();
    static final List<String> TOOLS = List.of("producer", "consumer", "wakeup");
    static final Duration BOUND = Duration.ofMinutes(3); // a cold cache compiles the script first

    @TempDir Path tmp;

    Spawned run(Map<String, String> env, String... command) throws Exception {
        return Spawned.start(tmp, List.of(command), env);
    }

    @Test void everyAliasPointsAtAScriptAndRunsFromTheCatalog() throws Exception {
        JsonNode aliases = Json.MAPPER.readTree(ROOT.resolve("jbang-catalog.json").toFile()).get("aliases");
        List<String> names = new ArrayList<>();
        aliases.fieldNames().forEachRemaining(names::add);
        assertEquals(List.of("producer", "consumer", "wakeup", "tests"), names);
        for (String name : names) {
            String ref = aliases.get(name).get("script-ref").asText();
            assertTrue(Files.isRegularFile(ROOT.resolve(ref)), name + " -> " + ref + " exists");
            assertTrue(aliases.get(name).hasNonNull("description"), name + " has a description");
        }
        Spawned list = run(Map.of(), ROOT.resolve("jbang").toString(), "alias", "list", ROOT.toString());
        assertEquals(0, list.waitFor(BOUND), list.stderr());
        for (String name : names) assertTrue(list.stdout().contains(name + "@"), "alias list shows " + name + ":\n"
            + list.stdout());

        for (String tool : TOOLS) {
            Spawned help = run(Map.of(), ROOT.resolve("jbang").toString(), tool + "@" + ROOT, "--help");
            assertEquals(0, help.waitFor(BOUND), tool + "@" + ROOT + " --help:\n" + help.stderr());
            assertTrue(help.stdout().startsWith("Usage: " + tool + " "), help.stdout());
        }
        // The tests alias runs the whole suite; building it through the catalog is enough here.
        Spawned build = run(Map.of(), ROOT.resolve("jbang").toString(), "build", "tests@" + ROOT);
        assertEquals(0, build.waitFor(BOUND), build.stderr());
    }

    /**
     * As the README says: `./jbang app install TOOL@$PWD`, and ~/.jbang/bin/jbang -> ./jbang when JBang is not
     * installed.
     */
    @Test void appInstallPutsTheToolsOnPath() throws Exception {
        Path jbangDir = tmp.resolve("jbang-home"), bin = jbangDir.resolve("bin"), home = tmp.resolve("home");
        Files.createDirectories(bin);
        Files.createDirectories(home);
        Files.createSymbolicLink(bin.resolve("jbang"), ROOT.resolve("jbang"));
        // A fresh JBANG_DIR and home (JBang reads user.home, not HOME, for the shell rc files it may
        // edit), with the caches this run already filled, so nothing is downloaded or compiled twice.
        String userHome = System.getProperty("user.home");
        Map<String, String> env = new HashMap<>(Map.of(
            "HOME", home.toString(), "JBANG_JAVA_OPTIONS", "-Duser.home=" + home, "JBANG_DIR", jbangDir.toString(),
            "JBANG_CACHE_DIR", envOr("JBANG_CACHE_DIR", envOr("JBANG_DIR", userHome + "/.jbang") + "/cache"),
            "JBANG_REPO", envOr("JBANG_REPO", userHome + "/.m2/repository"),
            "XDG_CACHE_HOME", envOr("XDG_CACHE_HOME", userHome + "/.cache"),
            "PATH", bin + ":" + System.getenv("PATH")));
        for (String tool : TOOLS) {
            Spawned install = run(env, ROOT.resolve("jbang").toString(), "app", "install", tool + "@" + ROOT);
            assertEquals(0, install.waitFor(BOUND), "app install " + tool + ":\n" + install.stderr());
            assertTrue(Files.readString(bin.resolve(tool)).contains(tool + "@" + ROOT),
                "runs the alias of this checkout");
        }
        for (String tool : TOOLS) {
            Spawned help = run(env, "sh", "-c", tool + " --help");
            assertEquals(0, help.waitFor(BOUND), tool + " --help:\n" + help.stderr());
            assertTrue(help.stdout().startsWith("Usage: " + tool + " "), help.stdout());
        }
        assertEquals(List.of(), listFiles(home), "nothing written to HOME (no shell rc file)");
    }

    /** JBang's launcher line drops an empty argument; ./jbang keeps it, so the script can name it. */
    @Test void anEmptyArgumentReachesTheScript() throws Exception {
        Spawned p = run(Map.of(), ROOT.resolve("jbang").toString(), ROOT.resolve("producer.java").toString(),
            "--stream", "", "--count", "1");
        assertEquals(2, p.waitFor(BOUND), p.stderr());
        assertTrue(p.stderr()
            .startsWith("producer: Invalid value for option '--stream': the stream name is empty: NSQ names match"),
            p.stderr());
        assertEquals("", p.stdout());
    }

    static String envOr(String name, String fallback) {
        String v = System.getenv(name);
        return v == null || v.isBlank() ? fallback : v;
    }

    static List<Path> listFiles(Path dir) throws Exception {
        try (var s = Files.list(dir)) {
            return s.toList();
        }
    }
}
