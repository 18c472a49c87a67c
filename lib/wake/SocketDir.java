package wake;

import cli.Log;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import util.Errors;

/**
 * The socket dir: group G is behind {@code <dir>/G.sock}. One listing gives every group with an
 * entry there; what an entry is, is read without following links (a symlink is refused: it could
 * point anywhere, and whoever planted it would be sent the wakes); whether anything listens on a
 * socket is read from the kernel's table of unix sockets, never by connecting, because a connection
 * to a systemd socket starts its consumer. Stateless: any thread may call it.
 */
public final class SocketDir {
    public static final String SUFFIX = ".sock";

    /** What is at {@code G.sock}. */
    public enum Kind { SOCKET, MISSING, SYMLINK, NOT_A_SOCKET, UNREADABLE }

    private static final Path PROC_NET_UNIX = Path.of("/proc/net/unix");
    /** /proc/net/unix's flag of a listening socket (__SO_ACCEPTCON). */
    private static final int ACCEPTING = 0x10000;

    private final Path dir;

    public SocketDir(Path dir) { this.dir = dir; }

    public Path dir() { return dir; }

    public Path socket(String group) { return dir.resolve(group + SUFFIX); }

    /** The groups with a G.sock entry now (one directory read); empty, and said, when the dir cannot be read. */
    public Set<String> listing() {
        Set<String> names = new HashSet<>();
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(dir, "*" + SUFFIX)) {
            for (Path p : entries) {
                String f = p.getFileName().toString();
                names.add(f.substring(0, f.length() - SUFFIX.length()));
            }
        } catch (NoSuchFileException missing) {
            // no socket dir (yet): no group is socket-backed
        } catch (IOException e) {
            Log.warn("cannot list %s (%s): no group is socket-backed this scan", dir, Errors.oneLine(e));
        }
        return names;
    }

    /** What {@code path} is, its links not followed. */
    public static Kind kind(Path path) {
        try {
            int type = (Integer) Files.getAttribute(path, "unix:mode", LinkOption.NOFOLLOW_LINKS) & 0170000;
            return type == 0140000 ? Kind.SOCKET : type == 0120000 ? Kind.SYMLINK : Kind.NOT_A_SOCKET;
        } catch (NoSuchFileException e) {
            return Kind.MISSING;
        } catch (IOException | UnsupportedOperationException e) {
            return Kind.UNREADABLE;
        }
    }

    /** Where a symlink points, for the line that refuses it. */
    public static String target(Path link) {
        try {
            return Files.readSymbolicLink(link).toString();
        } catch (IOException e) {
            return "?: " + Errors.oneLine(e);
        }
    }

    /**
     * The paths unix stream sockets listen on in this network namespace (/proc/net/unix), so "is
     * anything listening there" is answered without a connection; null when that table cannot be read.
     */
    public static Set<String> listening() {
        List<String> lines;
        try {
            lines = Files.readAllLines(PROC_NET_UNIX);
        } catch (IOException e) {
            Log.debug("%s: %s", PROC_NET_UNIX, Errors.oneLine(e));
            return null;
        }
        return listening(lines);
    }

    /** The same from the table's lines: "Num RefCount Protocol Flags Type St Inode Path", a path only when bound. */
    static Set<String> listening(List<String> lines) {
        Set<String> out = new HashSet<>();
        for (String line : lines.subList(Math.min(1, lines.size()), lines.size())) {
            String[] f = line.trim().split("\\s+", 8);
            if (f.length < 8 || f[7].startsWith("@")) continue; // not bound to a path, or the abstract namespace
            try {
                if ((Integer.parseInt(f[3], 16) & ACCEPTING) != 0 && Integer.parseInt(f[4], 16) == 1) out.add(f[7]);
            } catch (NumberFormatException notARow) {
                // a line this parser does not know: skipped
            }
        }
        return out;
    }
}
