import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** jbang-catalog.json: every alias points at a script that JBang builds; sources build under any locale. */
class CatalogTest {
    @RegisterExtension final NsqFixture nsq = new NsqFixture();

    @Test void everyAliasBuilds() throws Exception {
        Path root = NsqBinaries.repoRoot();
        JsonNode aliases = NsqHttp.JSON.readTree(root.resolve("jbang-catalog.json").toFile()).get("aliases");
        List<String> names = new ArrayList<>();
        aliases.fieldNames().forEachRemaining(names::add);
        assertTrue(names.containsAll(List.of("producer", "consumer", "wakeup", "tests")), names.toString());
        for (String name : names) {
            String ref = aliases.get(name).get("script-ref").asText();
            assertTrue(Files.isRegularFile(root.resolve(ref)), name + " -> " + ref + " exists");
            assertTrue(aliases.get(name).hasNonNull("description"), name + " has a description");
            Spawned build = nsq.spawn(List.of(root.resolve("jbang").toString(), "build", ref), Map.of());
            assertEquals(0, build.waitFor(Duration.ofMinutes(3)), "jbang build " + ref + ":\n" + build.stderr());
        }
    }

    /** JDK 17's javac reads sources in the locale's charset, and systemd starts services with none (ASCII). */
    @Test void javaSourcesAreAscii() throws Exception {
        Path root = NsqBinaries.repoRoot();
        List<String> offenders = new ArrayList<>();
        try (var files = Files.walk(root)) {
            for (Path p : (Iterable<Path>) files.filter(f -> f.toString().endsWith(".java"))
                    .filter(f -> !root.relativize(f).startsWith(".nsq"))::iterator) {
                List<String> lines = Files.readAllLines(p, java.nio.charset.StandardCharsets.UTF_8);
                for (int i = 0; i < lines.size(); i++) {
                    if (!lines.get(i).chars().allMatch(c -> c < 128)) offenders.add(root.relativize(p) + ":" + (i + 1));
                }
            }
        }
        assertTrue(offenders.isEmpty(), "non-ASCII characters (use \\uXXXX escapes): " + offenders);
    }
}
