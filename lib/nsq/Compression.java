package nsq;

import io.airlift.compress.snappy.SnappyFramedInputStream;
import io.airlift.compress.snappy.SnappyFramedOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.Locale;
import java.util.Map;
import java.util.zip.Deflater;
import java.util.zip.DeflaterOutputStream;

/**
 * Stream compression IDENTIFY can negotiate (go-nsq's deflate and snappy): nsqd compresses what it
 * sends and reads ours compressed, both ways on the whole connection, after its answer. Deflate is
 * raw deflate (no zlib header) flushed with SYNC_FLUSH, from the JDK. Snappy is the snappy framing
 * format (stream identifier, CRC-32C per chunk) from aircompressor, pure Java, so no native library
 * is unpacked to /tmp at start as snappy-java does; its classes load only when snappy is asked for.
 *
 * @param algorithm "snappy" or "deflate"
 * @param level     deflate's level, 1 (fast) to 9 (small); nsqd's own side uses at most its --max-deflate-level
 */
public record Compression(String algorithm, int level) {
    public static final String RULE = "expected snappy, deflate or deflate:LEVEL with a level from 1 to 9";

    /** "snappy", "deflate" (level 6, nsqd's default), "deflate:LEVEL"; IllegalArgumentException naming the rule. */
    public static Compression parse(String text) {
        String t = text.trim().toLowerCase(Locale.ROOT);
        if (t.equals("snappy")) return new Compression("snappy", 0);
        if (t.equals("deflate")) return new Compression("deflate", 6);
        if (t.startsWith("deflate:")) {
            try {
                int level = Integer.parseInt(t.substring("deflate:".length()));
                if (level >= 1 && level <= 9) return new Compression("deflate", level);
            } catch (NumberFormatException e) {
                // falls through to the rule
            }
        }
        throw new IllegalArgumentException("'" + text + "' is not a compression: " + RULE);
    }

    /** IDENTIFY's fields that ask for it. */
    void ask(Map<String, Object> identify) {
        identify.put(algorithm, true);
        if (algorithm.equals("deflate")) identify.put("deflate_level", level);
    }

    /** What nsqd sends, decompressed. {@code raw} should not buffer ahead more than the socket does. */
    public InputStream input(InputStream raw) throws IOException {
        return algorithm.equals("snappy") ? Snappy.input(raw) : new InflatingInputStream(raw);
    }

    /** What we send, compressed; each flush() sends everything written so far. */
    public OutputStream output(OutputStream raw) throws IOException {
        if (algorithm.equals("snappy")) return Snappy.output(raw);
        return new DeflaterOutputStream(raw, new Deflater(level, true), 64 * 1024, true);
    }

    @Override
    public String toString() { return algorithm.equals("deflate") ? "deflate:" + level : algorithm; }

    /** The only class that names aircompressor: loaded on the first snappy connection. */
    private static final class Snappy {
        static InputStream input(InputStream raw) throws IOException {
            return new SnappyFramedInputStream(raw, true);
        }

        static OutputStream output(OutputStream raw) throws IOException {
            return new SnappyFramedOutputStream(raw);
        }
    }
}
