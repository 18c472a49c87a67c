package wake;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.databind.JsonMappingException;
import java.io.IOException;
import java.net.ConnectException;
import java.net.SocketTimeoutException;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.LocalDate;
import java.time.ZoneId;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import nsq.HostPort;
import nsq.Names;
import nsq.Tls;
import nsq.http.NsqHttp;
import util.Durations;
import util.Errors;
import util.Json;

/**
 * {@code wakeup status}: one row per group behind a socket, from three sources, each of which may be
 * missing: the socket dir (what each G.sock is and whether anything listens on it), nsqd's /stats
 * (the group's streams, its messages, whether a consumer reads it: summed over nodes), and the
 * running wakeup ({@link StatusServer}: its last wake of the group with reason and round trip, its
 * wakes since it started, the last error). {@link #build} is a pure function of those; the report
 * renders as a table or as JSON with the same rows. Single-threaded: one call, one report.
 */
public final class StatusReport {
    /** What the running wakeup serves. */
    public record Live(long pid, long startedAtMillis, String socketDir, long scanIntervalMillis, long scans,
        long lastScanAtMillis,
                       int pushSubscriptions, List<GroupWaker.Status> groups) {}

    /** The wakeup as seen from here: running (with its live state) or not, and why. */
    public record Wakeup(boolean running, String detail, Live live) {}

    /** One nsqd: its HTTP address and, when it did not answer, why. */
    public record Node(String address, String error) {}

    /**
     * One group. {@code socket}: listening, refused (a socket nothing listens on: a wake would be
     * refused), missing (the wakeup woke it before; its socket is gone), symlink (refused), not a
     * socket, unreadable, or socket (whether anything listens is unknown). nsqd's columns are null
     * when no nsqd answered, the wakeup's when it does not run.
     */
    public record Row(String group, List<String> streams, String socket, Integer consumers, Long depth, Long inFlight,
        Long deferred,
                      GroupWaker.Wake lastWake, Long wakes, GroupWaker.Failure lastError) {
        @JsonProperty public Boolean consumerRunning() { return consumers == null ? null : consumers > 0; }
    }

    public record Report(String socketDir, Wakeup wakeup, List<Node> nsqd, List<Row> groups) {}

    private static final Duration HTTP_TIMEOUT = Duration.ofSeconds(3), LIVE_TIMEOUT = Duration.ofSeconds(3);

    private StatusReport() {}

    /**
     * Reads the three sources and builds the report: the socket dir, nsqd (directly, or every node nsqlookupd lists),
     * the wakeup.
     */
    public static Report collect(Path socketDir, List<HostPort> nsqdHttp, List<HostPort> lookupd, Tls tls) {
        SocketDir dir = new SocketDir(socketDir);
        Set<String> listing = dir.listing();
        Map<String, SocketDir.Kind> kinds = new HashMap<>();
        for (String g : listing) kinds.put(g, SocketDir.kind(dir.socket(g)));
        Set<String> listening = SocketDir.listening();
        Wakeup wakeup = live(StatusServer.path(socketDir));
        List<Node> nodes = new ArrayList<>();
        List<NsqHttp.Stats> stats = stats(nsqdHttp, lookupd, tls, nodes);
        return build(dir, kinds, listening, stats, nodes, wakeup);
    }

    /** The running wakeup's document, or why there is none. */
    public static Wakeup live(Path socket) {
        switch (SocketDir.kind(socket)) {
            case MISSING -> { return new Wakeup(false, "not running (no status socket " + socket + ")", null); }
            case SOCKET -> { }
            case UNREADABLE -> { return new Wakeup(false, "unknown: " + socket + ": " + PERMISSION, null); }
            default -> { return new Wakeup(false, "unknown: " + socket + " is not a socket", null); }
        }
        try {
            Live live = Json.MAPPER.readValue(StatusServer.fetch(socket, LIVE_TIMEOUT), Live.class);
            return new Wakeup(true, "running, pid " + live.pid(), live);
        } catch (ConnectException e) {
            return new Wakeup(false, "not running (nothing listens on " + socket
                + ": a wakeup that did not stop cleanly left it)", null);
        } catch (SocketTimeoutException e) {
            return new Wakeup(false, "not answering: " + e.getMessage() + " (stopped, or overloaded)", null);
        } catch (JsonMappingException e) {
            return new Wakeup(false, "unknown: " + socket + " answered something that is not a wakeup's status: "
                + Errors.oneLine(e), null);
        } catch (IOException e) {
            boolean denied = String.valueOf(e.getMessage()).toLowerCase(Locale.ROOT).contains("permission denied");
            return new Wakeup(false, "unknown: " + socket + ": " + (denied ? PERMISSION : Errors.oneLine(e)), null);
        }
    }

    private static final String PERMISSION =
        "permission denied (the wakeup's group may read it, mqueue under systemd: run this as "
        + "a member of that group, or as root)";

    private static List<NsqHttp.Stats> stats(List<HostPort> nsqdHttp, List<HostPort> lookupd, Tls tls,
            List<Node> nodes) {
        List<HostPort> targets = new ArrayList<>();
        if (lookupd != null && !lookupd.isEmpty()) {
            Set<HostPort> seen = new java.util.LinkedHashSet<>();
            for (HostPort l : lookupd) {
                try {
                    for (NsqHttp.Producer p : new NsqHttp(l, HTTP_TIMEOUT).nodes()) seen.add(p.http());
                } catch (IOException e) {
                    nodes.add(new Node("nsqlookupd " + l, Errors.oneLine(e)));
                }
            }
            targets.addAll(seen);
        } else if (nsqdHttp != null) {
            targets.addAll(nsqdHttp);
        }
        List<NsqHttp.Stats> out = new ArrayList<>();
        for (HostPort h : targets) {
            try {
                out.add(new NsqHttp(h, HTTP_TIMEOUT, tls).stats());
                nodes.add(new Node(h.toString(), null));
            } catch (IOException e) {
                nodes.add(new Node(h.toString(), Errors.oneLine(e)));
            }
        }
        return out;
    }

    /**
     * Rows for every group with an entry in the socket dir, and every group the running wakeup has woken or tried to.
     */
    public static Report build(SocketDir dir, Map<String, SocketDir.Kind> kinds, Set<String> listening,
        List<NsqHttp.Stats> stats,
                        List<Node> nodes, Wakeup wakeup) {
        Map<String, GroupWaker.Status> live = new HashMap<>();
        if (wakeup.live() != null && wakeup.live().groups() != null) for (GroupWaker.Status s
            : wakeup.live().groups()) live.put(s.group(), s);
        Map<String, Sums> sums = new HashMap<>();
        for (NsqHttp.Stats s : stats) {
            if (s.topics() == null) continue;
            for (NsqHttp.TopicStats t : s.topics()) {
                if (t.channels() == null) continue;
                for (NsqHttp.ChannelStats c : t.channels()) {
                    if (Names.isEphemeral(c.channelName())) continue;
                    sums.computeIfAbsent(c.channelName(), k -> new Sums()).add(t.topicName(), c);
                }
            }
        }
        boolean answered = !stats.isEmpty();
        TreeSet<String> names = new TreeSet<>(kinds.keySet());
        names.addAll(live.keySet());
        List<Row> rows = new ArrayList<>();
        for (String g : names) {
            Sums n = answered ? sums.getOrDefault(g, new Sums()) : null;
            GroupWaker.Status l = live.get(g);
            boolean running = wakeup.live() != null;
            rows.add(new Row(g, n == null ? null : List.copyOf(n.streams), socket(dir.socket(g), kinds.get(g),
                listening),
                n == null ? null : n.clients, n == null ? null : n.depth, n == null ? null : n.inFlight, n == null
                    ? null : n.deferred,
                l == null ? null : l.lastWake(), running ? (Long) (l == null ? 0L : l.wakes()) : null, l == null ? null
                    : l.lastError()));
        }
        return new Report(dir.dir().toString(), wakeup, nodes, rows);
    }

    private static String socket(Path path, SocketDir.Kind kind, Set<String> listening) {
        if (kind == null) return "missing";
        return switch (kind) {
            case SOCKET -> listening == null ? "socket" : listening.contains(path.toAbsolutePath().toString())
                ? "listening" : "refused";
            case SYMLINK -> "symlink (refused)";
            case NOT_A_SOCKET -> "not a socket";
            case MISSING -> "missing";
            case UNREADABLE -> "unreadable";
        };
    }

    /** One group's figures summed over nodes and streams. */
    private static final class Sums {
        final Set<String> streams = new TreeSet<>();
        int clients;
        long depth, inFlight, deferred;

        void add(String stream, NsqHttp.ChannelStats c) {
            streams.add(stream);
            clients += c.clientCount();
            depth += c.depth();
            inFlight += c.inFlightCount();
            deferred += c.deferredCount();
        }
    }

    // ---- rendering

    public static byte[] json(Report r) throws IOException {
        return Json.MAPPER.writerWithDefaultPrettyPrinter().writeValueAsBytes(r);
    }

    /**
     * The header lines (the wakeup, each nsqd) and one table row per group; {@code now} and {@code zone} for the times.
     */
    public static String table(Report r, long nowMillis, ZoneId zone) {
        StringBuilder out = new StringBuilder();
        out.append("wakeup: ").append(r.wakeup().detail());
        Live l = r.wakeup().live();
        if (l != null) {
            out.append(String.format(Locale.ROOT,
                ", up %s, %d scans (every %s, the last %s ago), %d push subscription(s)",
                ago(nowMillis - l.startedAtMillis()), l.scans(),
                    Durations.format(Duration.ofMillis(l.scanIntervalMillis())),
                l.lastScanAtMillis() == 0 ? "never" : ago(nowMillis - l.lastScanAtMillis()), l.pushSubscriptions()));
        }
        out.append('\n');
        for (Node n : r.nsqd()) out.append("nsqd ").append(n.address()).append(": ").append(n.error() == null ? "ok"
            : n.error()).append('\n');
        if (r.nsqd().isEmpty()) out.append("nsqd: none given\n");
        if (r.groups().isEmpty()) return out.append("no group has a socket in ").append(r.socketDir()).append('\n')
            .toString();
        List<String[]> cells = new ArrayList<>();
        cells.add(new String[] {"GROUP", "STREAMS", "SOCKET", "CONSUMER", "DEPTH", "IN FLIGHT", "DEFERRED", "LAST WAKE",
            "WAKES", "LAST ERROR"});
        for (Row w : r.groups()) {
            cells.add(new String[] {w.group(), w.streams() == null ? "?" : w.streams().isEmpty() ? "(no channel)"
                : String.join(",", w.streams()),
                w.socket(), w.consumers() == null ? "?" : w.consumers() > 0 ? "running" : "-", num(w.depth()),
                    num(w.inFlight()), num(w.deferred()),
                w.lastWake() == null ? (l == null ? "?" : "-") : time(w.lastWake().atMillis(), nowMillis, zone) + " "
                    + w.lastWake().reason()
                    + " " + Durations.format(Duration.ofMillis(w.lastWake().latencyMillis())),
                w.wakes() == null ? "?" : w.wakes().toString(),
                w.lastError() == null ? (l == null ? "?" : "-") : time(w.lastError().atMillis(), nowMillis, zone) + " "
                    + cap(w.lastError().message())});
        }
        int[] width = new int[cells.get(0).length];
        for (String[] c : cells) for (int i = 0; i < c.length; i++) width[i] = Math.max(width[i], c[i].length());
        boolean[] right = {false, false, false, false, true, true, true, false, true, false};
        for (String[] c : cells) {
            StringBuilder line = new StringBuilder();
            for (int i = 0; i < c.length; i++) {
                if (i > 0) line.append("  ");
                String pad = " ".repeat(width[i] - c[i].length());
                line.append(right[i] ? pad + c[i] : i == c.length - 1 ? c[i] : c[i] + pad);
            }
            out.append(line.toString().stripTrailing()).append('\n');
        }
        return out.toString();
    }

    private static String num(Long n) { return n == null ? "?" : n.toString(); }

    /** A table cell's error: the first 100 characters (--json has it whole). */
    private static String cap(String s) { return s.length() <= 100 ? s : s.substring(0, 97) + "..."; }

    /** HH:mm:ss today, the date before that. */
    private static String time(long atMillis, long nowMillis, ZoneId zone) {
        ZonedDateTime at = Instant.ofEpochMilli(atMillis).atZone(zone);
        boolean today = at.toLocalDate().equals(LocalDate.ofInstant(Instant.ofEpochMilli(nowMillis), zone));
        return at.format(DateTimeFormatter.ofPattern(today ? "HH:mm:ss" : "yyyy-MM-dd HH:mm:ss", Locale.ROOT));
    }

    /** Whole seconds past one, so an uptime reads "3h2m", not "3h2m17.4s". */
    private static String ago(long millis) { return millis < 1000 ? Math.max(0, millis) + "ms"
        : Durations.format(Duration.ofSeconds(millis / 1000)); }
}
