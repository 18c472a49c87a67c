package util;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Locale;

/**
 * A file an option names (a PEM file, a secret), read whole but never more than a bound: a wrong
 * path such as /dev/zero or a log file must fail at once, not fill the heap. A failure says why in
 * a few words a user acts on (no such file, permission denied, a directory, too large).
 */
public final class SmallFile {
    private SmallFile() {}

    /** Why a file could not be read; {@link #reason()} is the short phrase, without the file's name. */
    public static final class Unreadable extends IOException {
        private final String reason;

        Unreadable(String reason, Throwable cause) {
            super(reason, cause);
            this.reason = reason;
        }

        public String reason() { return reason; }
    }

    /** The file's bytes, at most {@code maxBytes} of them; {@link Unreadable} for anything else. */
    public static byte[] read(Path file, int maxBytes) throws Unreadable {
        if (Files.isDirectory(file)) throw new Unreadable("a directory, not a file", null);
        try (InputStream in = Files.newInputStream(file)) {
            byte[] bytes = in.readNBytes(maxBytes + 1); // a device or a pipe has no size to ask for first
            if (bytes.length > maxBytes) {
                throw new Unreadable("too large: more than " + size(maxBytes) + (Files.isRegularFile(file) ? ""
                    : " read from it"), null);
            }
            return bytes;
        } catch (Unreadable e) {
            throw e;
        } catch (IOException e) {
            throw new Unreadable(reason(e), e);
        }
    }

    /** The OS's words for a failed open or read, lower case, without the path Java repeats in them. */
    static String reason(IOException e) {
        if (e instanceof NoSuchFileException) return "no such file";
        if (e instanceof AccessDeniedException) return "permission denied";
        if (e instanceof FileSystemException fs
            && fs.getReason() != null) return fs.getReason().toLowerCase(Locale.ROOT);
        return Errors.oneLine(e);
    }

    private static String size(int bytes) {
        return bytes % (1 << 20) == 0 ? (bytes >> 20) + " MiB" : bytes % 1024 == 0 ? (bytes >> 10) + " KiB" : bytes
            + " bytes";
    }
}
