///usr/bin/env jbang "$0" "$@" ; exit $?
//JAVA 17+
// Parallel GC, not G1 (same nsqd, 2 pairs each): consume ~1 MiB 513 -> 1,218 MB/s (1 MiB bodies are humongous objects to
// G1), 200 B 345k -> 433k msg/s. Generations kept at their initial sizes (young: a third of the initial heap, itself 1/64 of RAM):
// left adaptive the heap kept growing, and a third of the CPU went to the kernel zeroing new pages (perf: clear_page_erms);
// 4,000 x 1 MiB: 811 -> 1,647 msg/s, RSS 1.17 GB -> 180 MB.
// scripts/package records //JVM_OPTIONS and bin/mqueue passes them (JBang's //RUNTIME_OPTIONS would reach every script that sources this one).
//JVM_OPTIONS -XX:+UseParallelGC -XX:-UseAdaptiveSizePolicy
//DEPS info.picocli:picocli:4.7.7
//DEPS com.fasterxml.jackson.core:jackson-databind:2.18.2
//DEPS io.airlift:aircompressor:2.0.3
//DEPS com.kohlschutter.junixsocket:junixsocket-common:2.10.1
//DEPS com.kohlschutter.junixsocket:junixsocket-native-common:2.10.1
//SOURCES lib/util/*.java
//SOURCES lib/nsq/*.java lib/nsq/http/*.java lib/nsq/publish/*.java lib/nsq/subscribe/*.java
//SOURCES lib/cli/*.java
//SOURCES lib/activation/*.java
//SOURCES lib/events/*.java
//SOURCES lib/consume/*.java

import activation.WakeSocket;
import cli.Cli;
import cli.ConnectionOptions;
import cli.Converters;
import cli.DrainOnSignal;
import cli.Log;
import consume.CommandRunner;
import consume.DeadLetters;
import consume.DeferredWakes;
import consume.MessageLifecycle;
import consume.MessageOutput;
import consume.SeqVerifier;
import java.io.BufferedOutputStream;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import nsq.Names;
import nsq.NsqConfig;
import nsq.NsqException;
import nsq.subscribe.Message;
import nsq.subscribe.Subscriber;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import util.Durations;

@Command(name = "consumer", mixinStandardHelpOptions = true, version = "mqueue 0.1", sortOptions = false,
    usageHelpWidth = 100,
    description = {"Reads streams (NSQ topics) as a group (NSQ channel): every group gets every message, "
        + "consumers sharing a group split them. Prints each message on stdout, or runs --exec per message.",
        "Exits 0 after --timeout without messages, after --count, or on SIGTERM/SIGINT after draining "
        + "(running handlers finish, the rest goes back to nsqd at once). Socket-activated by systemd "
        + "when LISTEN_FDS/LISTEN_PID say so."},
    footer = {"", "Examples:",
        "  STREAM=foo GROUP=1 consumer.java --timeout 30",
        "  consumer.java -s foo -g mail --exec './send-mail.sh' --concurrency 4 --max-attempts 5"})
public class consumer implements Callable<Integer> {
    /** A host that refuses connections this long is not coming up (a restarting nsqd takes less). */
    static final Duration REFUSED_WAIT = Duration.ofSeconds(5);
    /** How soon a run that was busy when its idle time ran out looks again. */
    static final Duration BUSY_RECHECK = Duration.ofSeconds(1);

    @Option(names = {"-s", "--stream"}, paramLabel = "NAME", split = ",", converter = Converters.Stream.class,
        defaultValue = "${env:STREAM}", description = "Stream to read; repeat or comma-separate for several (env STREAM).")
    List<String> streams;

    @Option(names = {"-g", "--group"}, paramLabel = "NAME", converter = Converters.Group.class, defaultValue = "${env:GROUP}",
        description = "Group (NSQ channel); NAME#ephemeral for one that nsqd forgets when its last consumer leaves (env GROUP).")
    String group;

    @Option(names = "--timeout", paramLabel = "DURATION", defaultValue = "${env:TIMEOUT}",
        description = "Exit 0 after this long without a message and with nothing in flight; 0 = never "
            + "(env TIMEOUT; default 0, or 30s when socket-activated). A bare number is seconds.")
    Duration timeout;

    @Mixin ConnectionOptions.NsqdTcp nsqd;
    @Mixin ConnectionOptions.LookupdHttp lookupd;
    @Mixin ConnectionOptions.Client client;
    @Mixin ConnectionOptions.Delivery delivery;

    @Option(names = "--lookupd-interval", paramLabel = "DURATION", defaultValue = "${env:LOOKUPD_POLL_INTERVAL:-15s}",
        description = "How often to ask nsqlookupd for new nsqd nodes (env LOOKUPD_POLL_INTERVAL, default ${DEFAULT-VALUE}).")
    Duration lookupdInterval;

    @Option(names = "--connect-timeout", paramLabel = "DURATION", defaultValue = "${env:CONNECT_TIMEOUT:-15s}",
        description = "At start, how long to wait for the first subscription before exiting 1; an nsqd or nsqlookupd "
            + "that refuses connections (or an unknown host) fails within 5s (env CONNECT_TIMEOUT, default ${DEFAULT-VALUE}).")
    Duration connectTimeout;

    @Option(names = "--max-in-flight", paramLabel = "N", defaultValue = "${env:MAX_IN_FLIGHT}",
        description = "Messages nsqd may hand us before we answer (env MAX_IN_FLIGHT; default 2500 (nsqd's max-rdy-count) when printing, "
            + "--concurrency with --exec so none waits toward nsqd's msg-timeout).")
    Integer maxInFlight;

    @Option(names = "--connections", paramLabel = "N", defaultValue = "${env:NSQD_CONNECTIONS:-1}",
        description = "Connections to each nsqd per stream, sharing --max-in-flight: nsqd sends on each from one goroutine, "
            + "so a second one lets a fast reader take a second core of nsqd's (env NSQD_CONNECTIONS, default ${DEFAULT-VALUE}).")
    int connections;

    @Option(names = "--count", paramLabel = "N", defaultValue = "${env:COUNT:-0}",
        description = "Exit after N messages handled; 0 = no limit (env COUNT, default ${DEFAULT-VALUE}).")
    long count;

    @Option(names = "--format", paramLabel = "raw|json", defaultValue = "${env:FORMAT:-raw}",
        description = "Without --exec: 'raw' prints each body on a line; 'json' prints {stream, group, id, attempts, "
            + "ts_ns, body} (body_base64 true when the body is not UTF-8) (env FORMAT, default ${DEFAULT-VALUE}).")
    MessageOutput.Format format;

    @Option(names = "--exec", paramLabel = "CMD", defaultValue = "${env:EXEC}",
        description = "Run CMD with /bin/sh -c per message, in a process group of its own: body on stdin, MQ_STREAM, MQ_GROUP, "
            + "MQ_ID, MQ_ATTEMPTS in its environment. Exit 0 finishes the message; anything else requeues it with --backoff. "
            + "What it leaves running in the background is killed when the consumer exits (env EXEC).")
    String exec;

    @Option(names = "--concurrency", paramLabel = "N", defaultValue = "${env:CONCURRENCY:-1}",
        description = "Commands running at once (env CONCURRENCY, default ${DEFAULT-VALUE}).")
    int concurrency;

    @Option(names = "--exec-timeout", paramLabel = "DURATION", defaultValue = "${env:EXEC_TIMEOUT:-10m}",
        description = "Kill a command running longer and requeue its message (env EXEC_TIMEOUT, default ${DEFAULT-VALUE}; "
            + "nsqd's --max-msg-timeout, 15m by default, bounds how long a message can be kept by TOUCH).")
    Duration execTimeout;

    @Option(names = "--backoff", paramLabel = "INITIAL/MAX", defaultValue = "${env:BACKOFF:-1s/2m}",
        description = "Requeue delay after a failure: INITIAL, doubled per attempt, capped at MAX (env BACKOFF, default ${DEFAULT-VALUE}).")
    String backoffSpec;

    @Option(names = "--max-attempts", paramLabel = "N", defaultValue = "${env:MAX_ATTEMPTS:-5}",
        description = "After N failed attempts, publish the message to the dead-letter stream (as JSON with its metadata, or "
            + "its bare body when that would exceed nsqd's --max-msg-size) and finish it; 0 = retry forever "
            + "(env MAX_ATTEMPTS, default ${DEFAULT-VALUE}).")
    int maxAttempts;

    @Option(names = "--dead-letter", paramLabel = "NAME", converter = Converters.Stream.class, defaultValue = "${env:DEAD_LETTER}",
        description = "Dead-letter stream (env DEAD_LETTER; default <stream>.dead).")
    String deadLetter;

    @Option(names = "--verify", defaultValue = "${env:VERIFY:-false}",
        description = "Count producer.java events per producer and report on exit: count, highest seq, missing-at-start "
            + "(seq 1 up to the lowest seen), gaps, duplicates (env VERIFY).")
    boolean verify;

    @Option(names = "--expect", paramLabel = "N", defaultValue = "${env:EXPECT}",
        description = "Implies --verify: exit 1 (one line naming who fell short) unless seq 1..N of every producer "
            + "arrived (env EXPECT).")
    Long expect;

    @Option(names = "--drain-timeout", paramLabel = "DURATION", defaultValue = "${env:DRAIN_TIMEOUT:-15s}",
        description = "On SIGTERM/SIGINT, how long running commands may finish before they are killed and requeued "
            + "(env DRAIN_TIMEOUT, default ${DEFAULT-VALUE}).")
    Duration drainTimeout;

    @Option(names = "--socket-activation", defaultValue = "${env:SOCKET_ACTIVATION:-false}",
        description = "Require the wake socket from systemd (fd 3); automatic when LISTEN_PID is this process (env SOCKET_ACTIVATION).")
    boolean socketActivation;


    @Option(names = "--max-req-timeout", paramLabel = "DURATION", defaultValue = "${env:MAX_REQ_TIMEOUT:-1h}",
        description = "nsqd's --max-req-timeout: requeue delays are clamped to it as nsqd clamps them, and logged as such "
            + "(env MAX_REQ_TIMEOUT, default ${DEFAULT-VALUE}, nsqd's default).")
    Duration maxReqTimeout;

    @Mixin ConnectionOptions.Verbosity verbosity;
    @Spec CommandSpec spec; // what the command line said, as opposed to the environment (--nsqd with --lookupd)

    // ---- what tests inject and read
    OutputStream out;                       // data; stdout when null
    WakeSocket.Listener listener;           // the wake socket; from systemd when activated
    Map<String, String> env = System.getenv();
    final SeqVerifier verifier = new SeqVerifier();
    MessageLifecycle messages;              // the counts, once call() has wired it
    volatile Duration idleTimeout;          // --timeout, or its default for the mode we run in

    private final CountDownLatch stopSignal = new CountDownLatch(1);
    private volatile boolean stopping;
    private volatile NsqException fatal;
    private volatile Error broken;          // an Error on a reader or worker thread: exit 1 whatever else happened
    private boolean activated;
    private MessageOutput output;
    private Subscriber subscriber;
    private CommandRunner runner;           // with --exec
    private DeferredWakes deferredWakes;    // socket-activated: wakes left in nsqd for what it requeues with a delay

    public static void main(String... args) {
        consumer c = new consumer();
        DrainOnSignal.main(c, c::stop, () -> (c.drainTimeout != null ? c.drainTimeout : Duration.ofSeconds(15)).plusSeconds(10), args);
    }

    /** What stopped the run for good (nsqd refused us, or a peer that is not nsqd); null if nothing did. */
    NsqException fatal() { return fatal != null ? fatal : subscriber == null ? null : subscriber.fatal(); }

    /** Stops the way SIGTERM does: drain, requeue the rest, close, return 0. */
    void stop() {
        stopping = true;
        stopSignal.countDown();
    }

    @Override
    public Integer call() throws Exception {
        Log.init("consumer", verbosity.verbose);
        int inFlight = checkOptions();
        DeadLetters deadLetters = new DeadLetters(client.config(), deadLetter);
        wire(inFlight, deadLetters);
        boolean ownListener = activated && listener == null;
        try {
            // Accept wakes from the start: systemd starts us again for any connection we leave pending.
            if (activated) {
                if (ownListener) listener = systemdListener();
                acceptWakes();
            }
            if (!subscribe()) return Cli.FAILURE;
            Log.info("reading %s as group %s from %s%s%s%s", String.join(",", streams), group,
                lookupd.enabled() ? "nsqlookupd " + lookupd.lookupd : "nsqd " + nsqd.nsqd,
                connections > 1 ? " (" + connections + " connections each)" : "",
                exec != null ? ", running '" + exec + "' (" + concurrency + " at once)" : "",
                idleTimeout.isZero() ? "" : ", exiting after " + Durations.format(idleTimeout) + " idle");
            if (runner != null && execTimeout.compareTo(subscriber.maxMsgTimeout()) > 0) {
                Log.warn("--exec-timeout %s is longer than nsqd's --max-msg-timeout %s: a command still running then has its message "
                    + "handed to another consumer", Durations.format(execTimeout), Durations.format(subscriber.maxMsgTimeout()));
            }
            messages.active(); // idle time counts from here, not from JVM start
            runUntilDone();
            drain();
        } finally {
            if (runner != null) runner.close();
            subscriber.close();
            if (listener != null) {
                listener.stop();
                if (ownListener) listener.close(); // leaves systemd's socket listening: our fd goes at exit, never shut down
            }
            deadLetters.close();
            deferredWakes.close();
        }
        boolean printed = output.close();
        logSummary();
        String short_ = expect == null ? null : verifier.shortOf(expect);
        if (short_ != null) Log.error("%s", short_);
        return printed && fatal == null && broken == null && short_ == null ? Cli.OK : Cli.FAILURE;
    }

    /** Rules the parser cannot check; returns max-in-flight. */
    private int checkOptions() {
        Cli.require(streams != null && !streams.isEmpty(), "missing --stream (or STREAM): which stream to read");
        Cli.require(group != null, "missing --group (or GROUP): which group to read as");
        Cli.require(exec == null || !exec.isBlank(), "--exec needs a command");
        Cli.require(concurrency >= 1 && concurrency <= 1000, "--concurrency %d: must be 1 to 1000", concurrency);
        Cli.require(maxInFlight == null || maxInFlight >= 1 && maxInFlight <= 100_000, "--max-in-flight %s: must be 1 to 100000", maxInFlight);
        Cli.require(connections >= 1 && connections <= 16, "--connections %d: must be 1 to 16", connections);
        Cli.require(count >= 0, "--count %d: must be 0 (no limit) or more", count);
        Cli.require(expect == null || expect >= 1, "--expect %d: must be at least 1 (seq numbers start at 1)", expect);
        if (expect != null) verify = true;
        Cli.require(maxAttempts >= 0 && maxAttempts <= 65535, "--max-attempts %d: must be 0 (forever) to 65535", maxAttempts);
        Cli.require(!execTimeout.isZero(), "--exec-timeout must be more than 0");
        Cli.require(!connectTimeout.isZero(), "--connect-timeout must be more than 0");
        Cli.require(!maxReqTimeout.isZero(), "--max-req-timeout must be more than 0");
        Converters.requireDuration("--exec-timeout", execTimeout, Duration.ofMillis(1), Duration.ofHours(24), "");
        Converters.requireDuration("--connect-timeout", connectTimeout, Duration.ofMillis(1), Duration.ofHours(1), "");
        Converters.requireDuration("--drain-timeout", drainTimeout, Duration.ZERO, Duration.ofHours(1), "");
        Converters.requireDuration("--lookupd-interval", lookupdInterval, Duration.ofMillis(100), Duration.ofHours(1),
            "every poll asks each nsqlookupd for each stream");
        lookupd.orNsqd(spec, nsqd);
        // Dead letters happen only when a command can fail, and only then is their stream's name a rule to keep.
        for (String s : exec != null && maxAttempts > 0 ? streams : List.<String>of()) {
            String dead = DeadLetters.streamFor(deadLetter, s);
            Cli.require(Names.isValid(dead), "dead-letter stream %s for stream %s is not a valid name "
                + "(%s): use a shorter stream name or --dead-letter NAME", Cli.quote(dead), Cli.quote(s), Names.RULE);
            Cli.require(!streams.contains(dead), "dead-letter stream %s for stream %s is a stream this consumer reads: each "
                + "dead letter would come back to it and fail again, forever; give --dead-letter another stream", Cli.quote(dead), Cli.quote(s));
        }
        activated = listener != null || WakeSocket.activated(env, ProcessHandle.current().pid());
        Cli.require(!socketActivation || activated, "--socket-activation: no socket was passed (LISTEN_PID is not this "
            + "process or LISTEN_FDS is unset); run it from a systemd .socket unit or systemd-socket-activate");
        idleTimeout = timeout != null ? timeout : activated ? Duration.ofSeconds(30) : Duration.ZERO;
        int mif = maxInFlight != null ? maxInFlight : exec != null ? concurrency : 2500;
        return count > 0 ? (int) Math.min(mif, count) : mif;
    }

    /** Commands run on a pool; printing runs on the reader thread, flushed (then FINed) at the end of each burst. */
    private void wire(int inFlight, DeadLetters deadLetters) {
        messages = new MessageLifecycle(count, maxAttempts, MessageLifecycle.backoff(backoffSpec), group, deadLetters,
            verify ? verifier::record : body -> {});
        output = new MessageOutput(out != null ? out : new BufferedOutputStream(new FileOutputStream(FileDescriptor.out), 64 * 1024),
            format, group, new MessageOutput.Listener() {
                @Override public void printed(List<Message> ms) { messages.finished(ms); }
                @Override public void notPrinted(Message m) { messages.requeueNow(m); }
                @Override public void outputFailed() { stop(); }
            });
        if (exec != null) runner = new CommandRunner(exec, group, concurrency, execTimeout);
        deferredWakes = DeferredWakes.of(activated, client.config(), group, backoffSpec, maxAttempts, maxReqTimeout, idleTimeout);
        NsqConfig config = delivery.apply(client.config());
        subscriber = new Subscriber(config, streams, group, inFlight, new Subscriber.Handler() {
            @Override public void onMessage(Message m) { dispatch(m); }
            @Override public void onBatchEnd() { if (runner == null) output.flush(true); }
            @Override public void onFatal(NsqException e) {
                fatal = e;
                stop();
            }
        }).maxReqTimeout(maxReqTimeout);
        subscriber.connectionsPerNode(connections);
        // Commands: what is in flight is small by design (--concurrency by default) and each worker should have its
        // message at once, so the window is all of it. Printing adapts from a few in flight (see Session).
        if (runner != null) subscriber.windowFloor(inFlight);
        if (lookupd.enabled()) subscriber.discoverWith(lookupd.lookupd, lookupdInterval);
        else subscriber.connectTo(nsqd.nsqd);
        messages.onDeadLetterRefused(f -> {
            fatal = new NsqException(f.getMessage(), true, f); // logged where it happened; exit 1
            stop();
        });
        messages.flow(new MessageLifecycle.Flow() {
            @Override public void pause() { subscriber.pause(); }
            @Override public void resume() { subscriber.resume(); }
        });
        messages.onLimitReached(stopSignal::countDown); // runUntilDone's wait ends on stop() or --count
    }

    /**
     * Connects and waits for every stream's first subscription: a slow nsqd (a loaded machine, a
     * socket-activated start) gets the whole --connect-timeout, a host that refuses connections
     * {@link #REFUSED_WAIT}, one that is not nsqd or refuses us not a second try. False (logged) on failure.
     */
    private boolean subscribe() throws InterruptedException {
        subscriber.start();
        long start = System.nanoTime();
        while (!stopping && !subscriber.awaitReady(Duration.ofMillis(100))) {
            if (subscriber.fatal() != null) return false; // the client logged it, naming the peer
            Duration waited = Duration.ofNanos(System.nanoTime() - start);
            if (waited.compareTo(connectTimeout) >= 0 || subscriber.refused() && waited.compareTo(REFUSED_WAIT) >= 0) {
                String last = subscriber.lastError();
                Log.error("cannot read %s: %s", String.join(",", streams), subscriber.refused() && last != null ? last
                    : "no answer within " + Durations.format(connectTimeout) + " (--connect-timeout)" + (last != null ? ": " + last : ""));
                return false;
            }
        }
        return fatal == null;
    }

    /** The socket LISTEN_FDS promised on fd 3; exit 2 naming what fd 3 really is when it is not there. */
    private WakeSocket.Listener systemdListener() {
        try {
            return WakeSocket.Listener.fromSystemd();
        } catch (IOException | RuntimeException e) {
            throw new Cli.UsageException(String.format("LISTEN_PID=%s LISTEN_FDS=%s promise a listening unix socket on fd %d, "
                + "but fd %d is %s: start the consumer from a systemd .socket unit or systemd-socket-activate, or unset LISTEN_PID "
                + "and LISTEN_FDS", env.get("LISTEN_PID"), env.get("LISTEN_FDS"), WakeSocket.SD_LISTEN_FDS_START,
                WakeSocket.SD_LISTEN_FDS_START, WakeSocket.describeFd(WakeSocket.SD_LISTEN_FDS_START)));
        }
    }

    /** Waits for stop or --count (signals), or the idle timeout (a timer, checked when it can first have run out). */
    private void runUntilDone() throws Exception {
        long wait = idleTimeout.isZero() ? Long.MAX_VALUE : idleTimeout.toNanos();
        while (!stopping) {
            if (stopSignal.await(wait, TimeUnit.NANOSECONDS) || stopping || messages.limitReached()) return;
            if (idleTimeout.isZero()) continue;
            // Idle counts from the last message, wake, or (re)subscription: a connection made again gets its turn first.
            long lastActivity = Math.max(activated ? Math.max(messages.lastActivityNanos(), listener.lastWakeNanos()) : messages.lastActivityNanos(),
                subscriber.listeningSinceNanos());
            wait = lastActivity + idleTimeout.toNanos() - System.nanoTime();
            if (wait > 0) continue;
            // Busy: an answer that ends it counts as activity, but a connection that is heard from again does not: look
            // again within a second, not a whole timeout later.
            wait = Math.min(idleTimeout.toNanos(), BUSY_RECHECK.toNanos());
            if (busy()) continue;
            if (activated) {
                // A wake that came in while we decided to go keeps us running.
                long wakes = listener.wakes();
                listener.stop();
                if (listener.wakes() != wakes || busy()) {
                    acceptWakes();
                    messages.active();
                    continue;
                }
            }
            Log.info("no message for %s: exiting", Durations.format(idleTimeout));
            return;
        }
    }

    private void acceptWakes() throws IOException { listener.start(w -> Log.debug("woken: %s", w.line())); }

    /** Not idle: a command runs, a message is unanswered, or a connection is down, stalled or overdue (it may hold messages). */
    private boolean busy() { return runner != null && runner.busy() || subscriber.inFlight() > 0 || !subscriber.listening(); }

    /** RDY 0, let commands finish what runs (within --drain-timeout); closing the subscriber requeues the rest. */
    private void drain() throws InterruptedException {
        messages.drain();
        subscriber.pause();
        if (runner != null) runner.drain(drainTimeout); // queued ones see the drain and requeue
        else output.flush(true);
    }

    /** Every REQ this run sent, as nsqd counts them: failures, the drain, and what was on its way when it began. */
    long requeued() { return messages.requeued() + (subscriber == null ? 0 : subscriber.requeuedOnClose()); }

    private void logSummary() {
        double secs = messages.firstReceivedNanos() == 0 ? 0 : (System.nanoTime() - messages.firstReceivedNanos()) / 1e9;
        int unread = subscriber.requeuedUnread();
        Log.info("summary: received=%d finished=%d requeued=%d%s dead-lettered=%d%s in %.2fs since the first (%.0f msg/s)",
            messages.received(), messages.finished(), requeued(),
            unread > 0 ? " (" + unread + " of them unread: on their way when the drain began)" : "", messages.deadLettered(),
            verify ? " missing=" + verifier.missing() + " duplicates=" + verifier.duplicates() : "", secs, secs > 0 ? messages.handled() / secs : 0.0);
        if (verify) for (String line : verifier.report()) Log.info("verify: %s", line);
    }

    // ---- one message: printed on the reader thread, or run on a worker (--exec)

    private void dispatch(Message m) {
        try {
            messages.received(m);
            if (runner == null) print(m); // admit() turns it away when draining
            else if (!runner.submit(m.topic(), subscriber, m, this::runCommand)) messages.requeueNow(m);
        } catch (Error e) {
            broke(e, m);
        }
    }

    /** An Error (OutOfMemoryError...) while handling {@code m}: hand it back, drain, and exit 1, never 0. */
    private void broke(Error e, Message m) {
        if (broken == null) {
            broken = e;
            Log.error("%s while handling a message: %s; stopping", e.getClass().getSimpleName(), String.valueOf(e.getMessage()));
        }
        try {
            messages.requeueNow(m);
        } catch (Error again) {
            Log.debug("requeue failed too: %s", again); // closing the subscriber requeues what is unanswered
        }
        stop();
    }

    /** Queued for stdout; the burst's end flushes it (onBatchEnd), and a full batch sooner. */
    private void print(Message m) {
        if (!messages.admit(m)) return;
        try {
            output.print(m.topic(), m);
        } catch (RuntimeException e) {
            messages.requeueNow(m); // its slot back; the reader logs the bug
            throw e;
        }
    }

    /** On a worker; whatever happens, the message's --count slot goes back (release is a no-op after an answer). */
    private void runCommand(CommandRunner.Job j) {
        try {
            if (!messages.admit(j.m)) return; // draining, or --count is taken: requeued
            String error = runner.run(j);
            if (error == null) messages.finish(j.m);
            else if (j.killedForDrain) messages.requeueNow(j.m);
            else {
                messages.failed(j.stream, j.m, error);
                deferredWakes.failed(j.stream, j.m);
            }
        } catch (Error e) {
            broke(e, j.m);
        } finally {
            messages.release(j.m);
        }
    }
}
