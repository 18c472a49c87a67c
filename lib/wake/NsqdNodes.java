package wake;

import cli.Log;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import nsq.HostPort;
import nsq.NsqException;
import nsq.Tls;
import nsq.http.NsqHttp;
import util.Backoff;
import util.Errors;

/**
 * The nsqd nodes a scanner reads /stats from: a fixed list (--nsqd-http), or whatever
 * nsqlookupd's /nodes lists right now. A node that does not answer is skipped with its own
 * backoff, so one dead nsqd never holds up the others; outages are logged once, not per scan.
 *
 * <p>Thread model: one lock, this object's, held by whoever scans (the scan loop; a test calling
 * scanOnce) for the whole of {@link #stats}, so everything here has one owner at a time. The threads
 * of {@code io} take no lock: they only fetch (a node's stats, and its TCP port the first time) and
 * hand back what they got; the scanner waits for them, then records each outcome: up or down,
 * backoff, what is logged, a fatal failure.
 */
public final class NsqdNodes {
    private static final Duration HTTP_TIMEOUT = Duration.ofSeconds(3);
    private final List<HostPort> direct, lookupds;
    private final Tls tls;
    private final Map<HostPort, Node> nodes = new LinkedHashMap<>();
    private final StateChanges<HostPort> lookupdStates = new StateChanges<>();
    private NsqException fatal;

    /**
     * With any {@code lookupds}, the nodes come from them; otherwise they are {@code direct}. {@code tls}: nsqd's
     * HTTPS, or null.
     */
    public NsqdNodes(List<HostPort> direct, List<HostPort> lookupds, Tls tls) {
        this.direct = direct;
        this.lookupds = lookupds == null ? List.of() : lookupds;
        this.tls = tls;
    }

    /**
     * The first failure no retry can fix (a peer that is not nsqd's HTTP API, TLS that nsqd requires or refuses); null
     * if none.
     */
    public synchronized NsqException fatal() { return fatal; }

    /** Refreshes the node list, then asks every node that is due for its stats, in parallel on {@code io}. */
    public synchronized List<Backlog.NodeStats> stats(Executor io) {
        refresh();
        Map<Node, CompletableFuture<Answer>> answers = new LinkedHashMap<>();
        long now = System.nanoTime();
        for (Node n : nodes.values()) if (!n.down || now - n.retryAt >= 0) answers.put(n,
            CompletableFuture.supplyAsync(n::fetch, io));
        List<Backlog.NodeStats> out = new ArrayList<>();
        answers.forEach((node, answer) -> {
            // first: a direct node learns its tcp address from its answer
            NsqHttp.Stats stats = node.record(answer.join());
            out.add(new Backlog.NodeStats(node.tcp, stats));
        });
        return out;
    }

    /** Nanoseconds until the next down node is due again, at most {@code max}. */
    public synchronized long untilNextRetry(long max) {
        long sleep = max;
        for (Node n : nodes.values()) if (n.down) sleep = Math.min(sleep, n.retryAt - System.nanoTime());
        return sleep;
    }

    private void refresh() {
        if (lookupds.isEmpty()) {
            for (HostPort http : direct) nodes.computeIfAbsent(http, h -> new Node(h, null));
            return;
        }
        Map<HostPort, HostPort> seen = new HashMap<>(); // http -> tcp
        boolean answered = false;
        for (HostPort l : lookupds) {
            try {
                for (NsqHttp.Producer p : new NsqHttp(l, HTTP_TIMEOUT).nodes()) seen.put(p.http(), p.tcp());
                answered = true;
                Object before = lookupdStates.get(l);
                if (lookupdStates.changed(l, "ok") && before != null) Log.info("nsqlookupd %s answers again", l);
            } catch (IOException e) {
                if (NsqException.isFatal(e)) { // not nsqlookupd's HTTP port: the caller ends the run and says why
                    if (fatal == null) fatal = new NsqException("nsqlookupd " + l + ": " + e.getMessage(), true, e);
                    continue;
                }
                if (lookupdStates.changed(l, Errors.oneLine(e))) Log.warn("nsqlookupd %s: %s", l, Errors.oneLine(e));
            }
        }
        if (!answered) return; // keep the nodes we knew
        seen.forEach((http, tcp) -> nodes.computeIfAbsent(http, h -> {
            Log.info("nsqd %s (tcp %s) joined", h, tcp);
            return new Node(h, tcp);
        }));
        nodes.keySet().removeIf(h -> {
            if (seen.containsKey(h)) return false;
            Log.info("nsqd %s left nsqlookupd", h);
            return true;
        });
    }

    /** What one fetch got: the stats and, the first time in direct mode, the TCP address; or why not. */
    private record Answer(NsqHttp.Stats stats, HostPort tcp, IOException failure) {}

    /** One nsqd: its stats, and a backoff while it does not answer. The scan loop's, but for {@link #fetch}. */
    private final class Node {
        final HostPort http;
        final NsqHttp client;
        final Backoff backoff = new Backoff(Duration.ofMillis(250), Duration.ofSeconds(5));
        /** From nsqlookupd, or learnt from /info once; written by the scan loop before it hands out a fetch. */
        HostPort tcp;
        boolean down;
        long retryAt;

        Node(HostPort http, HostPort tcp) {
            this.http = http;
            this.client = new NsqHttp(http, HTTP_TIMEOUT, tls);
            this.tcp = tcp;
        }

        /**
         * On an io thread: reads only what the scan loop wrote before handing it out. Direct mode asks /info until
         * the TCP port is known, once per node (it was every scan).
         */
        Answer fetch() {
            try {
                NsqHttp.Stats s = client.stats();
                // Direct mode: the address we reach its HTTP on, with the TCP port it reports.
                HostPort learnt = tcp != null ? null : new HostPort(http.host(), client.info().tcpPort());
                return new Answer(s, learnt, null);
            } catch (IOException e) {
                return new Answer(null, null, e);
            }
        }

        /** On the scan loop: the stats, or null (logged once per outage) while it does not answer. */
        NsqHttp.Stats record(Answer a) {
            if (a.failure() == null) {
                if (a.tcp() != null) tcp = a.tcp();
                if (down) Log.info("nsqd %s answers again", http);
                down = false;
                backoff.reset();
                return a.stats();
            }
            IOException e = a.failure();
            if (NsqException.isFatal(e)) { // the caller ends the run and says why
                if (fatal == null) fatal = NsqException.fatalCause(e);
                return null;
            }
            Duration wait = backoff.next();
            if (!down) Log.warn("nsqd %s: %s; retrying with backoff, serving the other nodes", http, Errors.oneLine(e));
            else Log.debug("nsqd %s still down (%d failures): %s", http, backoff.failures(), Errors.oneLine(e));
            down = true;
            retryAt = System.nanoTime() + wait.toNanos();
            return null;
        }
    }
}
