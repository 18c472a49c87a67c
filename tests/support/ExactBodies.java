import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Random;
import util.Json;

/**
 * Bodies that prove a path is byte-exact: every byte value, a large random one, UTF-8; written as stdin lines, read
 * back from --format json.
 */
final class ExactBodies {
    private ExactBodies() {}

    /** Every byte but '\n' (the line delimiter), 200 KB of random bytes without '\n', and UTF-8 text with a '\r'. */
    static List<byte[]> lines() {
        List<byte[]> out = new ArrayList<>();
        ByteArrayOutputStream all = new ByteArrayOutputStream();
        for (int b = 0; b < 256; b++) if (b != '\n') all.write(b);
        out.add(all.toByteArray());
        byte[] random = new byte[200_000];
        new Random(42).nextBytes(random);
        for (int i = 0; i < random.length; i++) if (random[i] == '\n') random[i] = 'n';
        out.add(random);
        out.add("gr\u00fc\u00dfe \u2603 and a carriage return\r".getBytes(StandardCharsets.UTF_8));
        return out;
    }

    /** The bodies as one stdin for `producer -`. */
    static byte[] stdin(List<byte[]> bodies) {
        ByteArrayOutputStream in = new ByteArrayOutputStream();
        for (byte[] b : bodies) {
            in.writeBytes(b);
            in.write('\n');
        }
        return in.toByteArray();
    }

    /** What `consumer --format json` printed, as bodies. */
    static List<byte[]> fromJson(List<String> printed) throws IOException {
        List<byte[]> out = new ArrayList<>();
        for (String line : printed) {
            JsonNode j = Json.MAPPER.readTree(line);
            String body = j.get("body").asText();
            out.add(j.path("body_base64").asBoolean() ? Base64.getDecoder().decode(body)
                : body.getBytes(StandardCharsets.UTF_8));
        }
        return out;
    }

    /** The same bodies, byte for byte, in any order. */
    static void assertSame(List<byte[]> expected, List<byte[]> got) {
        assertEquals(sorted(expected), sorted(got), "bodies byte for byte (base64)");
    }

    private static List<String> sorted(List<byte[]> bodies) {
        return bodies.stream().map(b -> Base64.getEncoder().encodeToString(b)).sorted().toList();
    }
}
