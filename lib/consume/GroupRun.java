package consume;

import activation.WakeSocket;
import cli.Cli;
import cli.Converters;
import cli.Log;
import java.io.IOException;
import java.io.OutputStream;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import nsq.Names;
import nsq.NsqConfig;
import nsq.NsqException;
import nsq.subscribe.Message;
import nsq.subscribe.Subscriber;
import util.Durations;
import util.Statsd;

/**
 * One run of a consumer in its group, whatever handles the messages: checks the options, subscribes,
 * hands every message to its handling (printed on the reader thread by {@link MessageOutput}, or
 * handed to {@link Workers}: consumer --exec's commands, a script's Java handler), answers each
 * through {@link MessageLifecycle}, accepts wakes when socket-activated, and ends on stop (SIGTERM),
 * --count, a fatal error or the idle timeout; then drains (RDY 0, running handlers finish within
 * --drain-timeout, the rest goes back at once) and logs the summary. lib/Nsq.java runs it for every
 * script; {@link #call} returns the exit code.
 *
 * <p>Thread model: the thread that calls {@link #call} owns the run (subscribe, the idle and wake loop,
 * the drain, the close). Reader threads hand messages over ({@link #dispatch}); workers answer them.
 * {@link #stop} may come from any thread (the signal hook, a reader that lost stdout, --count): it is a
 * latch the run waits on. What the other threads set for the run to read ({@code fatal}, {@code broken},
 * {@code stopping}, and the wake listener's {@code backlogWake}, {@code freshWake}) is volatile; everything a
 * message's answer decides is MessageLifecycle's.
 */
public final class GroupRun {
    /** A host that refuses connections this long is not coming up (a restarting nsqd takes less). */
    static final Duration REFUSED_WAIT = Duration.ofSeconds(5);
    /** How soon a run that was busy when its idle time ran out looks again. */
    static final Duration BUSY_RECHECK = Duration.ofSeconds(1);

    private final ConsumerOptions o;
    private final Workers workers;          // null: printing
    private final OutputStream out;         // printing: where the lines go
    private final MessageOutput.Format format;
    private final SeqVerifier verifier = new SeqVerifier();
    private WakeSocket.Listener listener;   // the wake socket; from systemd when activated
    private Map<String, String> env = System.getenv();

    private final CountDownLatch stopSignal = new CountDownLatch(1);
    private volatile boolean stopping;
    private volatile NsqException fatal;
    private volatile Error broken;          // an Error on a reader or worker thread: exit 1 whatever else happened
    private volatile MessageLifecycle messages; // once wired
    private volatile Duration idleTimeout;  // --timeout, or its default for the mode we run in; once checked
    private Duration linger;                // --backlog-linger, at most idleTimeout; zero when it does not apply
    private volatile boolean backlogWake;   // a wake said "backlog": messages were waiting when the wakeup looked
    private volatile boolean freshWake;     // a wake did not (a fresh publish), or a requeue for later: idleTimeout
    private boolean activated;
    private MessageOutput output;
    private volatile Subscriber subscriber; // stop() tells it from any thread
    private DeferredWakes deferredWakes;    // socket-activated: wakes left in nsqd for what it requeues with a delay
    private Statsd statsd = Statsd.off();
    private Statsd.Timer handlerTime;       // each handler's run (--exec, a script's handler); before the first message

    /** A run whose messages {@code workers} handle, one per worker. */
    public GroupRun(ConsumerOptions options, Workers workers) {
        this.o = options;
        this.workers = workers;
        this.out = null;
        this.format = null;
    }

    /** A run that prints every message on {@code out} (a line each: the body, or JSON). */
    public GroupRun(ConsumerOptions options, OutputStream out, MessageOutput.Format format) {
        this.o = options;
        this.workers = null;
        this.out = out;
        this.format = format;
    }

    /** A wake socket to accept wakes on (tests); without one, a socket-activated run takes systemd's. */
    public GroupRun listener(WakeSocket.Listener l) {
        this.listener = l;
        return this;
    }

    /** The environment that says whether systemd passed a socket (tests). */
    public GroupRun env(Map<String, String> e) {
        this.env = e;
        return this;
    }

    public SeqVerifier verifier() { return verifier; }

    /** The counts, once {@link #call} has wired them (null before). */
    public MessageLifecycle messages() { return messages; }

    /** The idle timeout in force, once the options are checked (null before). */
    public Duration idleTimeout() { return idleTimeout; }

    /** What stopped the run for good (nsqd refused us, or a peer that is not nsqd); null if nothing did. */
    public NsqException fatal() { return fatal != null ? fatal : subscriber == null ? null : subscriber.fatal(); }

    /** Stops the way SIGTERM does: drain, requeue the rest, close; {@link #call} returns 0. */
    public void stop() {
        stopping = true;
        stopSignal.countDown();
        Subscriber s = subscriber;
        if (s != null) s.cancelWaits(); // ends subscribe()'s wait
    }

    /**
     * Runs until stop, --count, a fatal error or the idle timeout; the exit code (1 after an error, 2 for bad usage
     * thrown as such).
     */
    public int call() throws Exception {
        int inFlight = checkOptions();
        DeadLetters deadLetters = new DeadLetters(o.client.config(), o.deadLetter);
        wire(inFlight, deadLetters);
        startStatsd();
        boolean ownListener = activated && listener == null;
        try {
            // Accept wakes from the start: systemd starts us again for any connection we leave pending.
            if (activated) {
                if (ownListener) listener = systemdListener();
                acceptWakes();
            }
            if (!subscribe()) return Cli.FAILURE;
            Log.info("reading %s as group %s from %s%s%s%s", String.join(",", o.streams), o.group,
                o.lookupd.enabled() ? "nsqlookupd " + o.lookupd.lookupd : "nsqd " + o.nsqd.nsqd,
                o.connections > 1 ? " (" + o.connections + " connections each)" : "",
                workers != null ? ", " + workers.describe() : "",
                idleTimeout.isZero() ? "" : ", exiting after " + Durations.format(idleTimeout) + " idle"
                    + (linger.isZero() ? "" : " (" + Durations.format(linger) + " when woken only for a backlog)"));
            Duration limit = workers == null ? null : workers.timeout();
            if (limit != null && limit.compareTo(subscriber.maxMsgTimeout()) > 0) {
                Log.warn("--exec-timeout %s is longer than nsqd's --max-msg-timeout %s: a command still running then "
                    + "has its message handed to another consumer", Durations.format(limit),
                    Durations.format(subscriber.maxMsgTimeout()));
            }
            messages.active(); // idle time counts from here, not from JVM start
            runUntilDone();
            drain();
        } finally {
            if (workers != null) workers.close();
            subscriber.close();
            if (listener != null) {
                listener.stop();
                // leaves systemd's socket listening: our fd goes at exit, never shut down
                if (ownListener) listener.close();
            }
            deadLetters.close();
            deferredWakes.close();
            statsd.close(); // the last flush: the counts are final now, the drain's requeues included
        }
        boolean printed = output == null || output.close();
        logSummary();
        String short_ = o.expect == null ? null : verifier.shortOf(o.expect);
        if (short_ != null) Log.error("%s", short_);
        return printed && fatal == null && broken == null && short_ == null ? Cli.OK : Cli.FAILURE;
    }

    /** Rules the parser cannot check; returns max-in-flight. */
    private int checkOptions() {
        Cli.require(o.streams != null && !o.streams.isEmpty(), "missing --stream (or STREAM): which stream to read");
        Cli.require(o.group != null, "missing --group (or GROUP): which group to read as");
        Cli.require(o.concurrency >= 1 && o.concurrency <= 1000, "--concurrency %d: must be 1 to 1000", o.concurrency);
        Cli.require(o.maxInFlight == null || o.maxInFlight >= 1 && o.maxInFlight <= 100_000,
            "--max-in-flight %s: must be 1 to 100000", o.maxInFlight);
        Cli.require(o.connections >= 1 && o.connections <= 16, "--connections %d: must be 1 to 16", o.connections);
        Cli.require(o.count >= 0, "--count %d: must be 0 (no limit) or more", o.count);
        Cli.require(o.expect == null || o.expect >= 1, "--expect %d: must be at least 1 (seq numbers start at 1)",
            o.expect);
        boolean verify = o.verify || o.expect != null;
        Cli.require(o.maxAttempts >= 0 && o.maxAttempts <= 65535, "--max-attempts %d: must be 0 (forever) to 65535",
            o.maxAttempts);
        Cli.require(!o.connectTimeout.isZero(), "--connect-timeout must be more than 0");
        Cli.require(!o.maxReqTimeout.isZero(), "--max-req-timeout must be more than 0");
        Converters.requireDuration("--connect-timeout", o.connectTimeout, Duration.ofMillis(1), Duration.ofHours(1),
            "");
        Converters.requireDuration("--drain-timeout", o.drainTimeout, Duration.ZERO, Duration.ofHours(1), "");
        Converters.requireDuration("--lookupd-interval", o.lookupdInterval, Duration.ofMillis(100), Duration.ofHours(1),
            "every poll asks each nsqlookupd for each stream");
        MessageLifecycle.backoff(o.backoffSpec); // its own rules, before anything is created
        o.statsd.check(); // an unknown statsd host: exit 2 before anything is created
        o.lookupd.orNsqd(o.spec, o.nsqd);
        // Dead letters happen only when a handler can fail (not when printing), and only then is their stream's name a
        // rule to keep.
        for (String s : workers != null && o.maxAttempts > 0 ? o.streams : List.<String>of()) {
            String dead = DeadLetters.streamFor(o.deadLetter, s);
            Cli.require(Names.isValid(dead), "dead-letter stream %s for stream %s is not a valid name "
                + "(%s): use a shorter stream name or --dead-letter NAME", Cli.quote(dead), Cli.quote(s), Names.RULE);
            Cli.require(!o.streams.contains(dead),
                "dead-letter stream %s for stream %s is a stream this consumer reads: each "
                + "dead letter would come back to it and fail again, forever; give --dead-letter another stream",
                Cli.quote(dead), Cli.quote(s));
        }
        activated = listener != null || WakeSocket.activated(env, ProcessHandle.current().pid());
        Cli.require(!o.socketActivation || activated,
            "--socket-activation: no socket was passed (LISTEN_PID is not this "
            + "process or LISTEN_FDS is unset); run it from a systemd .socket unit or systemd-socket-activate");
        o.verify = verify;
        idleTimeout = o.timeout != null ? o.timeout : activated ? Duration.ofSeconds(30) : Duration.ZERO;
        Converters.requireDuration("--backlog-linger", o.backlogLinger, Duration.ZERO, Duration.ofHours(1), "");
        // Only a run that can be woken lingers, and never longer than its idle timeout (0 there means never exit).
        linger = !activated || idleTimeout.isZero() || o.backlogLinger == null ? Duration.ZERO
            : o.backlogLinger.compareTo(idleTimeout) < 0 ? o.backlogLinger : Duration.ZERO;
        int mif = o.maxInFlight != null ? o.maxInFlight : workers != null ? o.concurrency : 2500;
        return o.count > 0 ? (int) Math.min(mif, o.count) : mif;
    }

    /** Workers run the handlers; printing runs on the reader thread, flushed (then FINed) at the end of each burst. */
    private void wire(int inFlight, DeadLetters deadLetters) {
        MessageLifecycle lifecycle = new MessageLifecycle(o.count, o.maxAttempts,
            MessageLifecycle.backoff(o.backoffSpec), o.group,
            deadLetters, o.verify ? verifier::record : body -> {});
        if (workers instanceof CommandRunner) lifecycle.handledBy("command");
        if (workers == null) {
            output = new MessageOutput(out, format, o.group, new MessageOutput.Listener() {
                @Override public void printed(List<Message> ms) { lifecycle.finished(ms); }
                @Override public void notPrinted(Message m) { lifecycle.requeueNow(m); }
                @Override public void outputFailed() { stop(); }
            });
        }
        deferredWakes = DeferredWakes.of(activated, o.client.config(), o.group, idleTimeout);
        lifecycle.onRequeuedLater((m, delay) -> {
            // A message that comes back later was planned for with --timeout (no note when we outlive its delay):
            // no lingering past it.
            freshWake = true;
            deferredWakes.requeued(m, delay);
        });
        NsqConfig config = o.delivery.apply(o.client.config());
        subscriber = new Subscriber(config, o.streams, o.group, inFlight, new Subscriber.Handler() {
            @Override public void onMessage(Message m) { dispatch(m); }
            @Override public void onBatchEnd() { if (output != null) output.flush(true); }
            @Override public void onFatal(NsqException e) {
                fatal = e;
                stop();
            }
        }).maxReqTimeout(o.maxReqTimeout);
        subscriber.connectionsPerNode(o.connections);
        // Workers: what is in flight is small by design (--concurrency by default) and each worker should have its
        // message at once, so the window is all of it. Printing adapts from a few in flight (see Session).
        if (workers != null) subscriber.windowFloor(inFlight);
        if (o.lookupd.enabled()) subscriber.discoverWith(o.lookupd.lookupd, o.lookupdInterval);
        else subscriber.connectTo(o.nsqd.nsqd);
        lifecycle.onDeadLetterRefused(f -> {
            fatal = new NsqException(f.getMessage(), true, f); // logged where it happened; exit 1
            stop();
        });
        lifecycle.flow(new MessageLifecycle.Flow() {
            @Override public void pause() { subscriber.pause(); }
            @Override public void resume() { subscriber.resume(); }
        });
        lifecycle.onLimitReached(stopSignal::countDown); // runUntilDone's wait ends on stop() or --count
        messages = lifecycle;
    }

    /**
     * The run's counts as statsd counters (deltas of the totals the summary reports), and the handlers' time
     * as a timer. Named after the group (one socket per group name on a host), summed over its streams.
     */
    private void startStatsd() {
        statsd = o.statsd.start();
        String name = "consumer." + o.group + ".";
        MessageLifecycle m = messages;
        statsd.total(name + "received", m::received);
        statsd.total(name + "finished", m::finished);
        statsd.total(name + "requeued", this::requeued);
        statsd.total(name + "dead_lettered", m::deadLettered);
        handlerTime = statsd.timer(name + "handler_time");
    }

    /**
     * Connects and waits for every stream's first subscription: a slow nsqd (a loaded machine, a
     * socket-activated start) gets the whole --connect-timeout, a host that refuses connections
     * {@link #REFUSED_WAIT}, one that is not nsqd or refuses us not a second try. False (logged) on failure.
     */
    private boolean subscribe() throws InterruptedException {
        subscriber.start();
        if (stopping) subscriber.cancelWaits(); // stop() came before the subscriber existed to be told
        Subscriber.Readiness r = subscriber.awaitReady(o.connectTimeout, REFUSED_WAIT); // signalled: no polling
        switch (r) {
            case READY, CANCELLED -> { return fatal == null; }
            case FATAL -> { return false; } // the client logged it, naming the peer
            default -> {
                String last = subscriber.lastError();
                boolean refused = r == Subscriber.Readiness.REFUSED && last != null;
                Log.error("cannot read %s: %s", String.join(",", o.streams), refused ? last : "no answer within "
                    + Durations.format(o.connectTimeout) + " (--connect-timeout)" + (last != null ? ": " + last : ""));
                return false;
            }
        }
    }

    /** The socket LISTEN_FDS promised on fd 3; exit 2 naming what fd 3 really is when it is not there. */
    private WakeSocket.Listener systemdListener() {
        try {
            return WakeSocket.Listener.fromSystemd();
        } catch (IOException | RuntimeException e) {
            throw new Cli.UsageException(String.format("LISTEN_PID=%s LISTEN_FDS=%s promise a listening unix socket on "
                + "fd %d, but fd %d is %s: start the consumer from a systemd .socket unit or systemd-socket-activate, "
                + "or unset LISTEN_PID and LISTEN_FDS", env.get("LISTEN_PID"), env.get("LISTEN_FDS"),
                WakeSocket.SD_LISTEN_FDS_START,
                WakeSocket.SD_LISTEN_FDS_START, WakeSocket.describeFd(WakeSocket.SD_LISTEN_FDS_START)));
        }
    }

    /**
     * The idle time in force now: --backlog-linger while every wake so far said "backlog" (a host back from
     * maintenance, a burst found by a scan: a hundred JVMs kept 30 s each for nothing), --timeout from the first
     * wake that did not (a fresh publish: the next one should find us running) or the first requeue for later (its
     * note to the wakeup counted on --timeout), and while no wake came at all.
     */
    private Duration idleNow() {
        return backlogWake && !freshWake && !linger.isZero() ? linger : idleTimeout;
    }

    private void woken(WakeSocket.Wake w) {
        if (w.backlog()) backlogWake = true;
        else freshWake = true;
        Log.debug("woken: %s", w.line());
    }

    /** Waits for stop or --count (signals), or the idle timeout (a timer, checked when it can first have run out). */
    private void runUntilDone() throws Exception {
        // The wake that started us comes within milliseconds: look again after the linger, when it may apply.
        long wait = idleTimeout.isZero() ? Long.MAX_VALUE : (linger.isZero() ? idleTimeout : linger).toNanos();
        while (!stopping) {
            if (stopSignal.await(wait, TimeUnit.NANOSECONDS) || stopping || messages.limitReached()) return;
            if (idleTimeout.isZero()) continue;
            Duration idle = idleNow();
            // Idle counts from the last message, wake, or (re)subscription: a connection made again gets its turn
            // first.
            long lastActivity = Math.max(activated ? Math.max(messages.lastActivityNanos(), listener.lastWakeNanos())
                : messages.lastActivityNanos(),
                subscriber.listeningSinceNanos());
            wait = lastActivity + idle.toNanos() - System.nanoTime();
            // No wake read yet (a slow client): look again each linger, so a backlog wake read late still applies.
            if (!linger.isZero() && !backlogWake && !freshWake) wait = Math.min(wait, linger.toNanos());
            if (wait > 0) continue;
            // Busy: an answer that ends it counts as activity, but a connection that is heard from again does not: look
            // again within a second, not a whole timeout later.
            wait = Math.min(idle.toNanos(), BUSY_RECHECK.toNanos());
            if (busy()) continue;
            if (activated) {
                // A wake that came in while we decided to go keeps us running.
                long wakes = listener.wakes();
                listener.stop();
                if (listener.wakes() != wakes || busy() || !idleNow().equals(idle)) {
                    acceptWakes();
                    messages.active();
                    continue;
                }
            }
            Log.info("no message for %s: exiting%s", Durations.format(idle), idle.equals(idleTimeout) ? ""
                : " (woken only for messages that were waiting: --backlog-linger)");
            return;
        }
    }

    private void acceptWakes() throws IOException { listener.start(this::woken); }

    /**
     * Not idle: a handler runs, a message is unanswered, or a connection is down, stalled or overdue (it may hold
     * messages).
     */
    private boolean busy() { return workers != null && workers.busy() || subscriber.inFlight() > 0
        || !subscriber.listening(); }

    /** RDY 0, let handlers finish what runs (within --drain-timeout); closing the subscriber requeues the rest. */
    private void drain() throws InterruptedException {
        messages.drain();
        subscriber.pause();
        if (workers != null) workers.drain(o.drainTimeout); // queued ones see the drain and requeue
        else output.flush(true);
    }

    /** Every REQ this run sent, as nsqd counts them: failures, the drain, and what was on its way when it began. */
    public long requeued() {
        MessageLifecycle m = messages;
        return (m == null ? 0 : m.requeued()) + (subscriber == null ? 0 : subscriber.requeuedOnClose());
    }

    private void logSummary() {
        double secs = messages.firstReceivedNanos() == 0 ? 0 : (System.nanoTime() - messages.firstReceivedNanos())
            / 1e9;
        int unread = subscriber.requeuedUnread();
        // The seconds and the rate as %s: a first %.2f through java.util.Formatter loads the locale's digits, ~7 ms of
        // every start (issue 24).
        long hundredths = Math.round(secs * 100);
        Log.info("summary: received=%d finished=%d requeued=%d%s dead-lettered=%d%s in %s.%s%ss since the first (%s "
            + "msg/s)",
            messages.received(), messages.finished(), requeued(),
            unread > 0 ? " (" + unread + " of them unread: on their way when the drain began)" : "",
                messages.deadLettered(),
            o.verify ? " missing=" + verifier.missing() + " duplicates=" + verifier.duplicates() : "",
            hundredths / 100, hundredths % 100 < 10 ? "0" : "", hundredths % 100,
            Math.round(secs > 0 ? messages.handled() / secs : 0.0));
        if (o.verify) for (String line : verifier.report()) Log.info("verify: %s", line);
    }

    // ---- one message: printed on the reader thread, or handled on a worker

    private void dispatch(Message m) {
        try {
            messages.received(m);
            if (workers == null) print(m); // admit() turns it away when draining
            else if (!workers.submit(m.topic(), subscriber, m, this::handle)) messages.requeueNow(m);
        } catch (Error e) {
            broke(e, m);
        }
    }

    /** An Error (OutOfMemoryError...) while handling {@code m}: hand it back, drain, and exit 1, never 0. */
    private void broke(Error e, Message m) {
        if (broken == null) {
            broken = e;
            Log.error("%s while handling a message: %s; stopping", e.getClass().getSimpleName(),
                String.valueOf(e.getMessage()));
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

    /**
     * On a worker. FIN only after the handler returned (unless it answered the message itself); a failure requeues
     * it with --backoff, or dead-letters it; whatever happens, its --count slot goes back (release is a no-op after an
     * answer).
     */
    private void handle(Workers.Job j) {
        try {
            if (!messages.admit(j.m)) return; // draining, or --count is taken: requeued
            long start = System.nanoTime();
            String error = workers.run(j);
            handlerTime.recordNanos(System.nanoTime() - start);
            if (error == null) messages.finish(j.m);
            else if (j.killedForDrain) messages.requeueNow(j.m);
            else messages.failed(j.stream, j.m, error);
        } catch (Error e) {
            broke(e, j.m);
        } finally {
            messages.release(j.m);
        }
    }
}
