import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import util.Json;

/** jbang-catalog.json: every alias points at a script that JBang builds. */
@Tag("process")
class CatalogTest {
    @TempDir Path tmp;

    @Test void everyAliasBuilds() throws Exception {
        Path root = NsqBinaries.repoRoot();
        JsonNode aliases = Json.MAPPER.readTree(root.resolve("jbang-catalog.json").toFile()).get("aliases");
        List<String> names = new ArrayList<>();
        aliases.fieldNames().forEachRemaining(names::add);
        assertTrue(names.containsAll(List.of("producer", "consumer", "wakeup", "tests")), names.toString());
        for (String name : names) {
            String ref = aliases.get(name).get("script-ref").asText();
            assertTrue(Files.isRegularFile(root.resolve(ref)), name + " -> " + ref + " exists");
            assertTrue(aliases.get(name).hasNonNull("description"), name + " has a description");
            Spawned build = Spawned.start(tmp, List.of(root.resolve("jbang").toString(), "build", ref), Map.of());
            assertEquals(0, build.waitFor(Duration.ofMinutes(3)), "jbang build " + ref + ":\n" + build.stderr());
        }
    }
}
