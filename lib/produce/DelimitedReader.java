package produce;

import cli.Cli;
import cli.Log;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;

/**
 * Splits a byte stream into records at a one-byte delimiter, keeping every other byte exactly
 * (no charset decoding, no trimming, "\r" stays). A last record without a delimiter counts.
 */
public final class DelimitedReader {
    private final InputStream in;
    private final byte delimiter;
    private final byte[] buf = new byte[64 * 1024];
    private final ByteArrayOutputStream record = new ByteArrayOutputStream();
    private int pos, limit;

    public DelimitedReader(InputStream in, byte delimiter) {
        this.in = in;
        this.delimiter = delimiter;
    }

    /** A --delimiter value: one byte, or the escapes \n, \t, \r, \0; a usage error otherwise. */
    public static byte parseDelimiter(String text) {
        String t = switch (text) {
            case "\\n" -> "\n";
            case "\\t" -> "\t";
            case "\\r" -> "\r";
            case "\\0" -> "\0";
            default -> text;
        };
        byte[] b = t.getBytes(StandardCharsets.UTF_8);
        Cli.require(b.length == 1, "--delimiter '%s': must be one byte (a character, or \\n, \\t, \\r, \\0)", text);
        return b[0];
    }

    /** The next record (empty when two delimiters meet), or null at the end of the input. */
    public byte[] next() throws IOException {
        record.reset();
        while (true) {
            for (int i = pos; i < limit; i++) {
                if (buf[i] == delimiter) {
                    record.write(buf, pos, i - pos);
                    pos = i + 1;
                    return record.toByteArray();
                }
            }
            record.write(buf, pos, limit - pos);
            pos = limit = 0;
            int n = in.read(buf);
            if (n < 0) return record.size() > 0 ? record.toByteArray() : null;
            limit = n;
        }
    }

    /** True when more input can be read without blocking (used to fill a batch, never to wait for one). */
    public boolean ready() {
        if (pos < limit) return true;
        try {
            return in.available() > 0;
        } catch (IOException e) {
            Log.debug("stdin: available() failed (%s); treating it as nothing ready", e.getMessage());
            return false;
        }
    }
}
