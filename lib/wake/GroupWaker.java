package wake;

import activation.WakeSocket;
import cli.Log;
import java.io.IOException;
import java.net.SocketTimeoutException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashSet;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Predicate;
import util.Backoff;
import util.Durations;
import util.Errors;

/**
 * Wakes socket-activated groups: group G is socket-backed when <dir>/G.sock exists and is a
 * socket itself (a symlink there is refused: it could point anywhere, and whoever planted it would
 * be sent the wakes), and waking it is one WakeSocket round trip there. Per group: one wake under
 * way at a time and none within the debounce window after one, so a burst of messages is one wake;
 * a refused or reset wake (the consumer was exiting and took its socket along) is tried again with
 * backoff; the group's state ("ok", "no socket", "symlink", "refused", ...) is logged once per change.
 */
public final class GroupWaker {
    public enum Reason { scan, push }

    /** A failed wake is tried again this many times with backoff; after that the next scan's turn. */
    public static final int RETRIES = 5;

    /** A wake this long after the group's previous one is logged at info; closer ones at debug. */
    public static final Duration QUIET = Duration.ofSeconds(10);

    private final Path dir;
    private final Duration debounce, timeout;
    private final ExecutorService wakers;
    private final ScheduledExecutorService retries;
    private final Map<String, Group> groups = new ConcurrentHashMap<>();
    private final StateChanges<String> states = new StateChanges<>();

    /** Wakes run on {@code wakers}, retries are scheduled on {@code retries}; whoever owns them shuts them down. */
    public GroupWaker(Path dir, Duration debounce, Duration timeout, ExecutorService wakers, ScheduledExecutorService retries) {
        this.dir = dir;
        this.debounce = debounce;
        this.timeout = timeout;
        this.wakers = wakers;
        this.retries = retries;
    }

    /** True when G.sock exists and is a socket; a regular file or a directory there is skipped with a log. */
    public boolean hasSocket(String group) { return group(group).hasSocket(); }

    /**
     * The groups that have a G.sock entry now, from one listing of the directory: a scan asks this of
     * every group (1,000 stat calls a scan otherwise). Whether an entry really is a socket is checked
     * when it is woken.
     */
    public Set<String> listing() {
        Set<String> names = new HashSet<>();
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(dir, "*.sock")) {
            for (Path p : entries) {
                String f = p.getFileName().toString();
                names.add(f.substring(0, f.length() - ".sock".length()));
            }
        } catch (NoSuchFileException missing) {
            // no socket dir (yet): no group is socket-backed
        } catch (IOException e) {
            Log.warn("cannot list %s (%s): no group is socket-backed this scan", dir, Errors.oneLine(e));
        }
        return names;
    }

    /** Whether a group is in {@code names} (a {@link #listing}); one that is not is marked "no socket". */
    public Predicate<String> listed(Set<String> names) {
        return group -> {
            if (names.contains(group)) return true;
            group(group).state("no socket", null);
            return false;
        };
    }

    /** Successful wakes (the consumer answered ok) of {@code group} so far. */
    public long wakes(String group) { Group g = groups.get(group); return g == null ? 0 : g.wakes.get(); }

    /** Why the last attempt to wake {@code group} did or did not reach it: "ok", "no socket", "not a socket", ... */
    public String state(String group) { Group g = groups.get(group); return g == null ? null : g.state; }

    /** Wakes {@code group} unless a wake is under way or finished less than the debounce ago. */
    public void request(String stream, String group, Reason reason) {
        Group g = group(group);
        synchronized (g) {
            if (g.busy || System.nanoTime() - g.lastEnd < debounce.toNanos()) return;
            g.busy = true;
        }
        try {
            wakers.execute(() -> wake(g, stream, reason));
        } catch (RejectedExecutionException stopped) {
            synchronized (g) { g.busy = false; }
        }
    }

    private void wake(Group g, String stream, Reason reason) {
        boolean retry = false;
        try {
            if (!g.hasSocket()) return;
            Duration rtt = WakeSocket.wake(g.socket, new WakeSocket.Wake(stream, g.name), timeout);
            long now = System.nanoTime(), quiet = now - g.lastOk;
            g.lastOk = now;
            g.wakes.incrementAndGet();
            g.state("ok", null);
            g.retry.reset();
            // The first wake after a quiet spell is news; under steady traffic the rest go to debug.
            if (g.wakes.get() == 1 || quiet > QUIET.toNanos()) Log.info("woke %s for %s (%s) in %s", g.name, stream, reason, Durations.format(rtt));
            else Log.debug("woke %s for %s (%s) in %s", g.name, stream, reason, Durations.format(rtt));
        } catch (SocketTimeoutException e) {
            g.state("timeout", String.format("%s: no 'ok' within %s", g.socket, Durations.format(timeout)));
        } catch (IOException e) {
            String why = Errors.oneLine(e);
            boolean refused = why.toLowerCase(Locale.ROOT).contains("refused");
            g.state(refused ? "refused" : "failed", String.format("%s: %s%s; trying again with backoff, then on each message and scan",
                g.socket, why, refused ? " (nothing listens there)" : ""));
            retry = true;
        } finally {
            synchronized (g) {
                g.busy = false;
                g.lastEnd = System.nanoTime();
            }
        }
        // Scheduled only now, after lastEnd: a retry that lands inside the debounce window would be dropped.
        if (retry) retryLater(g, stream, reason);
    }

    private void retryLater(Group g, String stream, Reason reason) {
        if (g.retry.failures() >= RETRIES) return; // the scans take over
        try {
            long ms = Math.max(g.retry.next().toMillis(), debounce.toMillis() + 1); // past the debounce window
            retries.schedule(() -> request(stream, g.name, reason), ms, TimeUnit.MILLISECONDS);
        } catch (RejectedExecutionException stopped) {
            Log.debug("not retrying %s: stopping", g.name);
        }
    }

    /** Whether {@code path} is a unix socket (S_IFSOCK), not a regular file or a directory. */
    static boolean isSocket(Path path) throws IOException {
        return ((Integer) Files.getAttribute(path, "unix:mode", LinkOption.NOFOLLOW_LINKS) & 0170000) == 0140000;
    }

    private Group group(String name) { return groups.computeIfAbsent(name, n -> new Group(n, dir.resolve(n + ".sock"), debounce)); }

    /** One group's socket and wake history. */
    private final class Group {
        final String name;
        final Path socket;
        final AtomicLong wakes = new AtomicLong();
        final Backoff retry = new Backoff(Duration.ofMillis(100), Duration.ofSeconds(2));
        boolean busy;
        long lastEnd, lastOk;
        volatile String state;

        Group(String name, Path socket, Duration debounce) {
            this.name = name;
            this.socket = socket;
            this.lastEnd = System.nanoTime() - debounce.toNanos() - 1; // a first wake is never debounced
        }

        boolean hasSocket() {
            try {
                // Not followed: a link could point anywhere, and whoever planted it would get our wakes.
                int mode = (Integer) Files.getAttribute(socket, "unix:mode", LinkOption.NOFOLLOW_LINKS);
                if ((mode & 0170000) == 0140000) return true; // S_IFSOCK
                if ((mode & 0170000) == 0120000) { // S_IFLNK
                    state("symlink", socket + " is a symlink (to " + target() + "), not a socket: refused, group " + name
                        + " skipped; put the socket itself there");
                    return false;
                }
                state("not a socket", socket + " exists but is not a socket: group " + name + " skipped");
            } catch (NoSuchFileException e) {
                state("no socket", null);
            } catch (IOException | UnsupportedOperationException e) {
                state("unreadable", socket + ": " + Errors.oneLine(e));
            }
            return false;
        }

        private String target() {
            try {
                return Files.readSymbolicLink(socket).toString();
            } catch (IOException e) {
                return "?: " + Errors.oneLine(e);
            }
        }

        /** Logs only a change of state: a scan every few seconds must not repeat the same warning. */
        synchronized void state(String next, String warning) {
            Object before = states.get(name);
            state = next;
            if (!states.changed(name, next)) return;
            if (warning != null) Log.warn("%s", warning);
            else if ("no socket".equals(next)) {
                if (before == null) Log.debug("group %s has no socket: ignored", name);
                else Log.info("group %s: socket gone", name);
            }
        }
    }
}
