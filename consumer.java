///usr/bin/env jbang "$0" "$@" ; exit $?
//JAVA 17+
//SOURCES lib/*.java

import com.fasterxml.jackson.databind.JsonNode;
import java.io.BufferedOutputStream;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.BitSet;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

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
    @Option(names = {"-s", "--stream"}, paramLabel = "NAME", split = ",", converter = Names.Stream.class,
        defaultValue = "${env:STREAM}", description = "Stream to read; repeat or comma-separate for several (env STREAM).")
    List<String> streams;

    @Option(names = {"-g", "--group"}, paramLabel = "NAME", converter = Names.Group.class, defaultValue = "${env:GROUP}",
        description = "Group (NSQ channel); NAME#ephemeral for one that nsqd forgets when its last consumer leaves (env GROUP).")
    String group;

    @Option(names = "--timeout", paramLabel = "DURATION", defaultValue = "${env:TIMEOUT}",
        description = "Exit 0 after this long without a message and with nothing in flight; 0 = never "
            + "(env TIMEOUT; default 0, or 30s when socket-activated). A bare number is seconds.")
    Duration timeout;

    @Mixin ConnectionOptions.NsqdTcp nsqd;
    @Mixin ConnectionOptions.LookupdHttp lookupd;

    @Option(names = "--lookupd-interval", paramLabel = "DURATION", defaultValue = "${env:LOOKUPD_POLL_INTERVAL:-15s}",
        description = "How often to ask nsqlookupd for new nsqd nodes (env LOOKUPD_POLL_INTERVAL, default ${DEFAULT-VALUE}).")
    Duration lookupdInterval;

    @Option(names = "--max-in-flight", paramLabel = "N", defaultValue = "${env:MAX_IN_FLIGHT}",
        description = "Messages nsqd may hand us before we answer (env MAX_IN_FLIGHT; default 1000 when printing, "
            + "--concurrency with --exec so none waits toward nsqd's msg-timeout).")
    Integer maxInFlight;

    @Option(names = "--count", paramLabel = "N", defaultValue = "${env:COUNT:-0}",
        description = "Exit after N messages handled; 0 = no limit (env COUNT, default ${DEFAULT-VALUE}).")
    long count;

    @Option(names = "--format", paramLabel = "raw|json", defaultValue = "${env:FORMAT:-raw}",
        description = "Without --exec: 'raw' prints each body on a line; 'json' prints {stream, group, id, attempts, "
            + "ts_ns, body} (body_base64 true when the body is not UTF-8) (env FORMAT, default ${DEFAULT-VALUE}).")
    Format format;

    enum Format { raw, json }

    @Option(names = "--exec", paramLabel = "CMD", defaultValue = "${env:EXEC}",
        description = "Run CMD with /bin/sh -c per message: body on stdin, MQ_STREAM, MQ_GROUP, MQ_ID, MQ_ATTEMPTS in its "
            + "environment. Exit 0 finishes the message; anything else requeues it with --backoff (env EXEC).")
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
        description = "After N failed attempts, publish the message to the dead-letter stream and finish it; "
            + "0 = retry forever (env MAX_ATTEMPTS, default ${DEFAULT-VALUE}).")
    int maxAttempts;

    @Option(names = "--dead-letter", paramLabel = "NAME", converter = Names.Stream.class, defaultValue = "${env:DEAD_LETTER}",
        description = "Dead-letter stream (env DEAD_LETTER; default <stream>.dead).")
    String deadLetter;

    @Option(names = "--verify", defaultValue = "${env:VERIFY:-false}",
        description = "Count producer.java events per producer and report gaps and duplicates of seq on exit (env VERIFY).")
    boolean verify;

    @Option(names = "--drain-timeout", paramLabel = "DURATION", defaultValue = "${env:DRAIN_TIMEOUT:-15s}",
        description = "On SIGTERM/SIGINT, how long running commands may finish before they are killed and requeued "
            + "(env DRAIN_TIMEOUT, default ${DEFAULT-VALUE}).")
    Duration drainTimeout;

    @Option(names = "--socket-activation", defaultValue = "${env:SOCKET_ACTIVATION:-false}",
        description = "Require the wake socket from systemd (fd 3); automatic when LISTEN_PID is this process (env SOCKET_ACTIVATION).")
    boolean socketActivation;

    @Mixin ConnectionOptions.Verbosity verbosity;

    // ---- what tests inject and read
    OutputStream out;                       // data; stdout when null
    WakeSocket.Listener listener;           // the wake socket; from systemd when activated
    Map<String, String> env = System.getenv();
    final AtomicLong received = new AtomicLong(), finished = new AtomicLong(), requeued = new AtomicLong(),
        deadLettered = new AtomicLong();
    final Verifier verifier = new Verifier();

    /** How long start-up waits for nsqd or nsqlookupd before exiting 1. */
    static final Duration CONNECT_WAIT = Duration.ofSeconds(5);

    private final CountDownLatch stopSignal = new CountDownLatch(1);
    private volatile boolean stopping, draining, outputFailed;
    private volatile long lastActivity = System.nanoTime();
    private final AtomicLong reserved = new AtomicLong();
    private final Map<NsqSubscriber.Message, Work> pending = new ConcurrentHashMap<>();
    private final List<NsqSubscriber> subscribers = new ArrayList<>();
    private final Map<HostPort, NsqPublisher> deadLetterPublishers = new HashMap<>();
    private ThreadPoolExecutor workers;
    private Backoff backoff;
    private final List<Work> unflushed = new ArrayList<>();

    public static void main(String... args) {
        consumer c = new consumer();
        CountDownLatch done = new CountDownLatch(1);
        AtomicInteger code = new AtomicInteger(Cli.FAILURE);
        // SIGTERM/SIGINT: the same path as stop(). The hook waits for the drain, then ends the JVM
        // with call()'s code (0) instead of the signal's 143/130.
        Thread hook = new Thread(() -> {
            c.stop();
            try {
                Duration wait = (c.drainTimeout != null ? c.drainTimeout : Duration.ofSeconds(15)).plusSeconds(10);
                if (!done.await(wait.toMillis(), TimeUnit.MILLISECONDS)) Log.warn("drain did not end within %s", Cli.format(wait));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            System.err.flush();
            Runtime.getRuntime().halt(done.getCount() == 0 ? code.get() : Cli.FAILURE);
        }, "drain-on-signal");
        Runtime.getRuntime().addShutdownHook(hook);
        code.set(Cli.run(c, args));
        done.countDown();
        try {
            Runtime.getRuntime().removeShutdownHook(hook);
        } catch (IllegalStateException signalled) {
            return; // the hook is running and ends the JVM with our code
        }
        System.exit(code.get());
    }

    /** Stops the way SIGTERM does: drain, requeue the rest, close, return 0. */
    void stop() {
        stopping = true;
        stopSignal.countDown();
    }

    /** One message on its way through a worker. */
    private static final class Work {
        final String stream;
        final NsqSubscriber.Message m;
        final NsqSubscriber sub;
        volatile long lastTouch = System.nanoTime();
        volatile Process process;
        volatile boolean killedForDrain;

        Work(String stream, NsqSubscriber.Message m, NsqSubscriber sub) {
            this.stream = stream;
            this.m = m;
            this.sub = sub;
        }
    }

    @Override
    public Integer call() throws Exception {
        Log.init("consumer", verbosity.verbose);
        // ---- options
        Cli.require(streams != null && !streams.isEmpty(), "missing --stream (or STREAM): which stream to read");
        Cli.require(group != null, "missing --group (or GROUP): which group to read as");
        Cli.require(exec == null || !exec.isBlank(), "--exec needs a command");
        Cli.require(concurrency >= 1 && concurrency <= 1000, "--concurrency %d: must be 1 to 1000", concurrency);
        Cli.require(maxInFlight == null || maxInFlight >= 1 && maxInFlight <= 100_000, "--max-in-flight %s: must be 1 to 100000", maxInFlight);
        Cli.require(count >= 0, "--count %d: must be 0 (no limit) or more", count);
        Cli.require(maxAttempts >= 0 && maxAttempts <= 65535, "--max-attempts %d: must be 0 (forever) to 65535", maxAttempts);
        Cli.require(!execTimeout.isZero(), "--exec-timeout must be more than 0");
        backoff = parseBackoff(backoffSpec);
        for (String s : streams) {
            Cli.require(Names.isValid(deadLetterStream(s)), "dead-letter stream '%s' for stream '%s' is not a valid name "
                + "(%s): use a shorter stream name or --dead-letter NAME", deadLetterStream(s), s, Names.RULE);
        }
        boolean activated = listener != null || WakeSocket.activated(env, ProcessHandle.current().pid());
        Cli.require(!socketActivation || activated, "--socket-activation: no socket was passed (LISTEN_PID is not this "
            + "process or LISTEN_FDS is unset); run it from a systemd .socket unit or systemd-socket-activate");
        Duration idle = timeout != null ? timeout : activated ? Duration.ofSeconds(30) : Duration.ZERO;
        int mif = maxInFlight != null ? maxInFlight : exec != null ? concurrency : 1000;
        if (count > 0) mif = (int) Math.min(mif, count);

        // ---- wiring
        if (out == null) out = new BufferedOutputStream(new FileOutputStream(FileDescriptor.out), 64 * 1024);
        workers = new ThreadPoolExecutor(exec != null ? concurrency : 1, exec != null ? concurrency : 1, 0, TimeUnit.SECONDS,
            new LinkedBlockingQueue<>(), r -> daemon(r, "worker"));
        for (String s : streams) {
            NsqSubscriber[] self = new NsqSubscriber[1];
            NsqSubscriber sub = new NsqSubscriber(s, group, Math.max(1, mif / streams.size()), m -> dispatch(s, self[0], m));
            self[0] = sub;
            if (lookupd.enabled()) sub.discoverWith(lookupd.lookupd, lookupdInterval);
            else sub.connectTo(nsqd.nsqd);
            subscribers.add(sub);
        }
        try {
            for (NsqSubscriber sub : subscribers) sub.start();
            for (NsqSubscriber sub : subscribers) {
                if (!sub.awaitReady(CONNECT_WAIT)) {
                    Log.error("cannot read stream %s: %s", sub.topic(), sub.lastError() != null ? sub.lastError() : "no answer within " + Cli.format(CONNECT_WAIT));
                    return Cli.FAILURE;
                }
            }
            if (activated) {
                if (listener == null) listener = WakeSocket.Listener.fromSystemd();
                listener.start(w -> Log.debug("woken: %s", w.line()));
            }
            Log.info("reading %s as group %s from %s%s%s", String.join(",", streams), group,
                lookupd.enabled() ? "nsqlookupd " + lookupd.lookupd : "nsqd " + nsqd.nsqd,
                exec != null ? ", running '" + exec + "' (" + concurrency + " at once)" : "",
                idle.isZero() ? "" : ", exiting after " + Cli.format(idle) + " idle");
            lastActivity = System.nanoTime(); // idle time counts from here, not from JVM start
            Thread toucher = daemon(this::touchLoop, "toucher");
            toucher.start();

            // ---- the loop: wait for stop, --count, or the idle timeout
            while (!stopping) {
                stopSignal.await(100, TimeUnit.MILLISECONDS);
                if (stopping) break;
                if (count > 0 && handled() >= count) break;
                if (activated) lastActivity = Math.max(lastActivity, listener.lastWakeNanos());
                if (idle.isZero() || System.nanoTime() - lastActivity < idle.toNanos() || busy()) continue;
                if (activated) {
                    // A wake that came in while we decided to go keeps us running.
                    long wakes = listener.wakes();
                    listener.stop();
                    if (listener.wakes() != wakes || busy()) {
                        listener.start(w -> Log.debug("woken: %s", w.line()));
                        lastActivity = System.nanoTime();
                        continue;
                    }
                }
                Log.info("no message for %s: exiting", Cli.format(idle));
                break;
            }
            drain();
            toucher.interrupt();
        } finally {
            for (NsqSubscriber sub : subscribers) sub.close();
            if (listener != null) listener.stop();
            synchronized (deadLetterPublishers) {
                for (NsqPublisher p : deadLetterPublishers.values()) closeQuietly(p);
            }
        }
        try {
            out.flush();
        } catch (IOException e) {
            outputFailed = true;
            Log.error("cannot write to stdout: %s", e.getMessage());
        }
        Log.info("summary: received=%d finished=%d requeued=%d dead-lettered=%d%s", received.get(), finished.get(),
            requeued.get(), deadLettered.get(), verify ? " duplicates=" + verifier.duplicates() : "");
        if (verify) for (String line : verifier.report()) Log.info("verify: %s", line);
        return outputFailed ? Cli.FAILURE : Cli.OK;
    }

    long handled() { return finished.get() + deadLettered.get(); }

    private boolean busy() {
        if (!pending.isEmpty()) return true;
        for (NsqSubscriber s : subscribers) if (s.inFlight() > 0) return true;
        return false;
    }

    /** RDY 0, let workers finish what runs (within --drain-timeout), requeue the rest at once. */
    private void drain() throws InterruptedException {
        draining = true;
        for (NsqSubscriber s : subscribers) s.pause();
        workers.shutdown(); // queued work still runs, sees `draining` and requeues at once
        if (!workers.awaitTermination(drainTimeout.toMillis(), TimeUnit.MILLISECONDS)) {
            Log.warn("handlers still running after --drain-timeout %s: killing them and requeueing their messages", Cli.format(drainTimeout));
            for (Work w : pending.values()) {
                w.killedForDrain = true;
                Process p = w.process;
                if (p != null) kill(p);
            }
            if (!workers.awaitTermination(5, TimeUnit.SECONDS)) Log.warn("handlers did not stop; closing anyway");
        }
        // NsqSubscriber.close() requeues (delay 0) anything still unanswered, then sends CLS.
    }

    // ---- from the reader thread to the workers

    private void dispatch(String stream, NsqSubscriber sub, NsqSubscriber.Message m) {
        received.incrementAndGet();
        lastActivity = System.nanoTime();
        Work w = new Work(stream, m, sub);
        if (draining) {
            requeue(w, Duration.ZERO);
            return;
        }
        pending.put(m, w);
        try {
            workers.execute(() -> handle(w));
        } catch (RejectedExecutionException stoppingNow) {
            requeue(w, Duration.ZERO);
        }
    }

    private void handle(Work w) {
        try {
            // Past --count, or stopping: this one goes back to nsqd for the next consumer.
            if (draining || count > 0 && reserved.incrementAndGet() > count) {
                requeue(w, Duration.ZERO);
                return;
            }
            // The last one --count needs: ask nsqd for no more while it is handled.
            if (count > 0 && reserved.get() == count) for (NsqSubscriber s : subscribers) s.pause();
            if (exec != null) runCommand(w);
            else print(w);
        } catch (RuntimeException e) {
            Log.error("handling %s failed: %s; requeueing", w.m, Cli.describe(e));
            requeue(w, Duration.ZERO);
        } finally {
            if (exec == null) flushOutput();
            lastActivity = System.nanoTime();
        }
    }

    // ---- printing: FIN only after the line is flushed, batched so stdout gets few large writes

    private void print(Work w) {
        if (outputFailed) {
            requeue(w, Duration.ZERO);
            return;
        }
        try {
            out.write(format == Format.raw ? w.m.body() : json(w));
            out.write('\n');
            unflushed.add(w);
        } catch (IOException e) {
            outputFailed(e);
            requeue(w, Duration.ZERO);
        }
    }

    /** Flushes stdout and FINs what it carried: when nothing else is queued, or every 256 lines. */
    private void flushOutput() {
        if (unflushed.isEmpty() || unflushed.size() < 256 && !workers.getQueue().isEmpty()) return;
        try {
            out.flush();
            for (Work u : unflushed) finish(u);
        } catch (IOException e) {
            outputFailed(e);
            for (Work u : unflushed) requeue(u, Duration.ZERO);
        } finally {
            unflushed.clear();
        }
    }

    private void outputFailed(IOException e) {
        if (!outputFailed) Log.error("cannot write to stdout (%s): stopping", e.getMessage());
        outputFailed = true;
        stop();
    }

    private byte[] json(Work w) throws IOException {
        Map<String, Object> j = new LinkedHashMap<>();
        j.put("stream", w.stream);
        j.put("group", group);
        j.put("id", w.m.id());
        j.put("attempts", w.m.attempts());
        j.put("ts_ns", w.m.timestampNanos());
        putBody(j, w.m.body());
        return NsqHttp.JSON.writeValueAsBytes(j);
    }

    static void putBody(Map<String, Object> j, byte[] body) {
        try {
            j.put("body", StandardCharsets.UTF_8.newDecoder().decode(ByteBuffer.wrap(body)).toString());
        } catch (CharacterCodingException notUtf8) {
            j.put("body", Base64.getEncoder().encodeToString(body));
            j.put("body_base64", true);
        }
    }

    // ---- --exec

    private void runCommand(Work w) {
        String error;
        try {
            ProcessBuilder pb = new ProcessBuilder("/bin/sh", "-c", exec)
                .redirectOutput(ProcessBuilder.Redirect.INHERIT).redirectError(ProcessBuilder.Redirect.INHERIT);
            pb.environment().putAll(Map.of("MQ_STREAM", w.stream, "MQ_GROUP", group, "MQ_ID", w.m.id(),
                "MQ_ATTEMPTS", String.valueOf(w.m.attempts())));
            Process p = pb.start();
            w.process = p;
            // Written on its own thread: a command that never reads a large body must not block us.
            daemon(() -> {
                try (OutputStream stdin = p.getOutputStream()) {
                    stdin.write(w.m.body());
                } catch (IOException e) {
                    Log.debug("command did not read all of %s: %s", w.m, e.getMessage());
                }
            }, "stdin").start();
            if (!p.waitFor(execTimeout.toMillis(), TimeUnit.MILLISECONDS)) {
                kill(p);
                error = "timed out after " + Cli.format(execTimeout);
            } else if (p.exitValue() == 0) {
                finish(w);
                return;
            } else {
                error = "exit status " + p.exitValue();
            }
        } catch (IOException e) {
            error = "cannot run command: " + e.getMessage();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            error = "interrupted";
        }
        if (w.killedForDrain) {
            requeue(w, Duration.ZERO);
            return;
        }
        if (maxAttempts > 0 && w.m.attempts() >= maxAttempts) {
            deadLetter(w, error);
            return;
        }
        Duration delay = backoff.delay(w.m.attempts());
        Log.warn("%s: command failed (%s); requeueing in %s", w.m, error, Cli.format(delay));
        requeue(w, delay);
        releaseCountSlot();
    }

    /** A message that counted toward --count was requeued: let another take its place. */
    private void releaseCountSlot() {
        if (count > 0 && !draining && reserved.decrementAndGet() < count) for (NsqSubscriber s : subscribers) s.resume();
    }

    private static void kill(Process p) {
        p.descendants().forEach(ProcessHandle::destroyForcibly);
        p.destroyForcibly();
    }

    /** Publishes the message with its metadata to the dead-letter stream on the nsqd it came from, then FIN; REQ if that fails. */
    private void deadLetter(Work w, String error) {
        String target = deadLetterStream(w.stream);
        Map<String, Object> j = new LinkedHashMap<>();
        j.put("id", w.m.id());
        j.put("attempts", w.m.attempts());
        j.put("last_error", error);
        j.put("stream", w.stream);
        j.put("group", group);
        j.put("ts_ns", w.m.timestampNanos());
        j.put("dead_ts_ns", System.currentTimeMillis() * 1_000_000L);
        putBody(j, w.m.body());
        synchronized (deadLetterPublishers) {
            NsqPublisher pub = deadLetterPublishers.get(w.m.from());
            try {
                if (pub == null) {
                    pub = new NsqPublisher(w.m.from(), Duration.ofSeconds(5));
                    deadLetterPublishers.put(w.m.from(), pub);
                }
                pub.publish(target, NsqHttp.JSON.writeValueAsBytes(j));
            } catch (IOException e) {
                if (pub != null) closeQuietly(pub);
                deadLetterPublishers.remove(w.m.from());
                Duration delay = backoff.delay(w.m.attempts());
                Log.error("%s: dead-letter publish to %s failed (%s); requeueing in %s", w.m, target, Cli.describe(e), Cli.format(delay));
                requeue(w, delay);
                releaseCountSlot();
                return;
            }
        }
        Log.warn("%s: failed %d times (last: %s); moved to stream %s", w.m, w.m.attempts(), error, target);
        w.m.finish();
        pending.remove(w.m);
        deadLettered.incrementAndGet();
    }

    String deadLetterStream(String stream) {
        if (deadLetter != null) return deadLetter;
        String base = Names.isEphemeral(stream) ? stream.substring(0, stream.length() - Names.EPHEMERAL.length()) : stream;
        return base + ".dead";
    }

    private void finish(Work w) {
        w.m.finish();
        pending.remove(w.m);
        finished.incrementAndGet();
        if (verify) verifier.record(w.m.body());
        if (count > 0 && handled() >= count) stopSignal.countDown();
    }

    private void requeue(Work w, Duration delay) {
        w.m.requeue(delay);
        pending.remove(w.m);
        requeued.incrementAndGet();
    }

    /** TOUCH what is still being handled every msg_timeout/2, so nsqd does not hand it to someone else. */
    private void touchLoop() {
        while (!Thread.currentThread().isInterrupted()) {
            try {
                Thread.sleep(500);
            } catch (InterruptedException e) {
                return;
            }
            long now = System.nanoTime();
            for (Work w : pending.values()) {
                if (now - w.lastTouch >= w.sub.msgTimeout().toNanos() / 2) {
                    w.m.touch();
                    w.lastTouch = now;
                    Log.debug("touched %s", w.m);
                }
            }
        }
    }

    static Backoff parseBackoff(String spec) {
        String[] parts = spec.split("/");
        Cli.require(parts.length == 2, "--backoff '%s': expected INITIAL/MAX, e.g. 1s/2m", spec);
        Duration initial, max;
        try {
            initial = Cli.parseDuration(parts[0]);
            max = Cli.parseDuration(parts[1]);
        } catch (RuntimeException e) {
            throw new Cli.UsageException("--backoff '" + spec + "': " + e.getMessage());
        }
        Cli.require(!initial.isZero() && initial.compareTo(max) <= 0 && max.compareTo(Duration.ofHours(1)) <= 0,
            "--backoff '%s': INITIAL must be more than 0 and at most MAX, MAX at most 1h (nsqd's --max-req-timeout)", spec);
        return new Backoff(initial, max);
    }

    private static Thread daemon(Runnable r, String name) {
        Thread t = new Thread(r, name);
        t.setDaemon(true);
        return t;
    }

    private static void closeQuietly(NsqPublisher p) {
        try {
            p.close();
        } catch (IOException e) {
            Log.debug("closing the dead-letter publisher failed: %s", e.getMessage());
        }
    }

    /** --verify: per producer, which seq numbers were handled, and how often. */
    static final class Verifier {
        private static final class Track {
            final BitSet seen = new BitSet();
            long count, duplicates, min = Long.MAX_VALUE, max = Long.MIN_VALUE;
        }

        private final Map<String, Track> producers = new TreeMap<>();
        private long unparsed;

        synchronized void record(byte[] body) {
            JsonNode e;
            try {
                e = NsqHttp.JSON.readTree(body);
            } catch (IOException notJson) {
                unparsed++;
                return;
            }
            if (e == null || !e.path("producer").isTextual() || !e.path("seq").canConvertToLong()
                    || e.path("seq").asLong() < 0 || e.path("seq").asLong() > Integer.MAX_VALUE) {
                unparsed++;
                return;
            }
            Track t = producers.computeIfAbsent(e.get("producer").asText(), p -> new Track());
            int seq = (int) e.get("seq").asLong();
            t.count++;
            if (t.seen.get(seq)) t.duplicates++;
            t.seen.set(seq);
            t.min = Math.min(t.min, seq);
            t.max = Math.max(t.max, seq);
        }

        synchronized long duplicates() {
            return producers.values().stream().mapToLong(t -> t.duplicates).sum();
        }

        /** Gaps: seq numbers missing between the lowest and highest seen. */
        synchronized long gaps() {
            return producers.values().stream().mapToLong(t -> t.max - t.min + 1 - t.seen.cardinality()).sum();
        }

        synchronized List<String> report() {
            List<String> lines = new ArrayList<>();
            producers.forEach((p, t) -> lines.add(String.format("producer %s count=%d seq=%d..%d gaps=%d duplicates=%d",
                p, t.count, t.min, t.max, t.max - t.min + 1 - t.seen.cardinality(), t.duplicates)));
            if (unparsed > 0) lines.add(unparsed + " message(s) were not producer.java events");
            if (lines.isEmpty()) lines.add("no events");
            return lines;
        }
    }
}
