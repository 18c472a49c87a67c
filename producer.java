///usr/bin/env jbang "$0" "$@" ; exit $?
//JAVA 17+
//DEPS info.picocli:picocli:4.7.7
//DEPS com.fasterxml.jackson.core:jackson-databind:2.18.2
//DEPS io.airlift:aircompressor:2.0.3
//SOURCES lib/util/*.java
//SOURCES lib/nsq/*.java lib/nsq/http/*.java lib/nsq/publish/*.java
//SOURCES lib/cli/*.java
//SOURCES lib/events/*.java
//SOURCES lib/produce/*.java

import cli.Cli;
import cli.ConnectionOptions;
import cli.Converters;
import cli.DeclaredOptions;
import cli.DrainOnSignal;
import cli.Log;
import cli.StatsdOptions;
import events.ProducerEvents;
import java.io.InputStream;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import nsq.Batch;
import nsq.NsqConfig;
import nsq.publish.ReliablePublisher;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import produce.DelimitedReader;
import produce.GroupSetup;
import produce.Pacer;
import produce.PublishStats;
import util.Durations;
import util.Errors;
import util.Statsd;
import util.Threads;

/** Publishes events (or stdin's lines) to a stream; a message counts only once nsqd acknowledged it. */
@Command(name = "producer", mixinStandardHelpOptions = true, version = "mqueue 0.1", sortOptions = false,
    description = {
        "Publish JSON events to STREAM (an NSQ topic): one per --interval per thread (default 1s), "
            + "--rate N msg/s across threads, or --rate max (MPUB batches). An event is {stream, producer, seq, "
            + "ts_ns, payload}: producer is host:pid:thread (threads from 0), seq counts 1, 2, 3 ... per producer "
            + "with no gaps, so a consumer can prove nothing was lost.",
        "With '-' it publishes stdin instead: one message per line, bytes as they are, until EOF. "
            + "Empty lines are skipped and counted (NSQ refuses empty messages).",
        "A message counts only after nsqd's OK. A lost connection is retried with backoff (next --nsqd if several) "
            + "and the unacknowledged batch re-sent. SIGINT/SIGTERM: stop, wait for the acknowledgements, "
            + "print the summary, exit 0. Exit 1 on a runtime failure, 2 on bad usage. Logs on stderr.",
        "A group (NSQ channel) gets only the messages published after it exists: --groups creates them first.", ""},
    footer = {"", "Examples:",
        "  producer -s foo                      # an event a second, like the seed",
        "  producer -s foo --groups 1,2         # groups 1 and 2 first, so they get every event",
        "  PAYLOAD_KEYS=1000 THREADS=4 producer -s foo   # 4 publishers, ~1 MiB events",
        "  producer -s foo --rate max --size 200 --count 1000000",
        "  cat events.jsonl | producer -s foo -"})
public class producer implements Callable<Integer>, DeclaredOptions {
    static final int AUTO_BATCH = 200;            // MPUB size for unpaced runs (measured: README, make bench-producer)
    static final int MAX_BATCH_BYTES = 4 << 20;   // stays under nsqd's default --max-body-size (5 MiB)
    static final Duration MAX_DEFER = Duration.ofHours(1); // nsqd's default --max-req-timeout
    static final Duration PROGRESS_EVERY = Duration.ofSeconds(5);
    static final Duration SHUTDOWN_GRACE = Duration.ofSeconds(10);
    // Upper bounds, so a typo fails at once instead of running out of memory or never publishing.
    static final int MAX_SIZE = 64 << 20;                         // far above nsqd's default --max-msg-size (1 MiB)
    static final int MAX_BATCH = 100_000;
    static final Duration MAX_INTERVAL = Duration.ofHours(24);    // --interval, and the period --rate implies

    @Option(names = {"-s", "--stream"}, required = true, defaultValue = "${env:STREAM}",
        converter = Converters.Stream.class,
        description = "Stream (NSQ topic) to publish to (env STREAM).")
    String stream;
    @Option(names = "--groups", split = ",", paramLabel = "GROUP", defaultValue = "${env:STREAM_GROUPS}",
        converter = Converters.Group.class,
        description = "Create the stream and these groups (NSQ channels) on every nsqd (through --nsqd-http) before "
            + "publishing, so each gets every message; comma-separate or repeat (env STREAM_GROUPS).")
    List<String> groups;
    @Option(names = "--interval", defaultValue = "${env:INTERVAL}", paramLabel = "DURATION",
        description = "Pause between events of each thread (env INTERVAL, default 1s; with '-': no pause).")
    Duration interval;
    @Option(names = "--rate", defaultValue = "${env:RATE}", paramLabel = "N|max",
        description = "Messages per second across all threads, or 'max': as fast as nsqd acknowledges (env RATE). Wins "
            + "over --interval.")
    String rate;
    @Option(names = "--count", paramLabel = "N", defaultValue = "${env:COUNT}",
        description = "Stop after N messages in total (env COUNT; default: no limit).")
    Long count;
    @Option(names = "--duration", paramLabel = "DURATION", defaultValue = "${env:DURATION}",
        description = "Stop after this long (env DURATION; default: until SIGINT/SIGTERM).")
    Duration duration;
    @Option(names = "--payload-keys", defaultValue = "${env:PAYLOAD_KEYS:-10}", paramLabel = "N",
        description = "Keys in the event's payload, ~1 KiB each: 1000 keys = ~1 MiB (env PAYLOAD_KEYS, default "
            + "${DEFAULT-VALUE}).")
    int payloadKeys;
    @Option(names = "--size", defaultValue = "${env:SIZE}", paramLabel = "BYTES",
        description = "Make every body exactly BYTES long instead (the event padded; for benchmarks) (env SIZE).")
    Integer size;
    @Option(names = "--threads", defaultValue = "${env:THREADS:-1}", paramLabel = "N",
        description = "Independent publishers, each with its own connection (env THREADS; make maps GOROUTINES; "
            + "default ${DEFAULT-VALUE}).")
    int threads;
    @Option(names = "--batch", defaultValue = "${env:BATCH}", paramLabel = "N",
        description = "Messages per MPUB (env BATCH; default " + AUTO_BATCH
            + " when unpaced, 1 when paced). Batches stay under 4 MiB.")
    Integer batch;
    @Option(names = "--defer", defaultValue = "${env:DEFER}", paramLabel = "DURATION",
        description = "Deliver each message this much later (DPUB, one message per command); at most 1h, nsqd's "
            + "default --max-req-timeout (env DEFER).")
    Duration defer;
    @Option(names = "--stdin", description = "Publish stdin, like '-'.")
    boolean stdinFlag;
    @Parameters(arity = "0..1", paramLabel = "-", description = "'-': publish stdin: each line (or --delimiter record) "
        + "is one message, bytes kept as they are; empty lines are skipped and counted.")
    String input;
    @Option(names = "--delimiter", defaultValue = "${env:DELIMITER:-\\n}", paramLabel = "CHAR",
        description = "Record separator for stdin: one byte, or \\n, \\t, \\r, \\0 (env DELIMITER, default \\n).")
    String delimiter;
    @Option(names = "--retry-timeout", defaultValue = "${env:RETRY_TIMEOUT:-60s}", paramLabel = "DURATION",
        description = "Give up (exit 1) after nsqd failed to acknowledge for this long (env RETRY_TIMEOUT, default "
            + "${DEFAULT-VALUE}).")
    Duration retryTimeout;
    // The options every tool shares, declared in code (cli.DeclaredOptions), after this script's own.
    final ConnectionOptions.NsqdTcp nsqd = new ConnectionOptions.NsqdTcp();
    final ConnectionOptions.NsqdHttp nsqdHttp = new ConnectionOptions.NsqdHttp();
    final ConnectionOptions.Client client = new ConnectionOptions.Client();
    final StatsdOptions statsdOptions = new StatsdOptions();
    final ConnectionOptions.Verbosity verbosity = new ConnectionOptions.Verbosity();

    @Override
    public void declare(CommandSpec spec) {
        DeclaredOptions.declareAll(spec, nsqd, nsqdHttp, client, statsdOptions, verbosity);
    }

    // Counters a test (or the progress line) reads while it runs.
    final PublishStats stats = new PublishStats();
    final ReliablePublisher.Counters counters = stats.counters;
    final LongAdder sent = stats.sent, skipped = stats.skipped;
    InputStream stdin = System.in; // tests substitute their own bytes
    private final AtomicLong budget = new AtomicLong(Long.MAX_VALUE);
    private volatile boolean stopping;
    private volatile DelimitedReader stdinReader; // with '-': stop() ends its input
    private volatile String failure;
    private NsqConfig config;
    private volatile Statsd statsd = Statsd.off();

    public static void main(String... args) {
        producer p = new producer();
        DrainOnSignal.main(p, p::stop, () -> SHUTDOWN_GRACE, p::gaveUpWaiting, args);
    }

    /**
     * Stops generating (stdin: what was read so far still goes out); call() returns once it is acknowledged (or given
     * up on).
     */
    void stop() {
        stopping = true;
        DelimitedReader r = stdinReader;
        if (r != null) r.stop();
    }

    String failure() { return failure; }

    long acked() { return stats.acked(); }

    /** SIGINT/SIGTERM and nsqd still had not acknowledged everything after SHUTDOWN_GRACE: say how much. */
    private void gaveUpWaiting() {
        long notAcked = stats.notAcked();
        if (notAcked > 0) {
            Log.error("stopped after waiting %s for nsqd: %d message(s) not acknowledged",
                Durations.format(SHUTDOWN_GRACE), notAcked);
        } else {
            Log.error("stopped after waiting %s for the publishing thread(s) to end; nothing sent was left "
                + "unacknowledged",
                Durations.format(SHUTDOWN_GRACE));
        }
        stats.summary("summary");
        closeStatsd(); // the last flush, before the JVM halts
    }

    @Override
    public Integer call() throws Exception {
        // ---- options
        Log.init("producer", verbosity.verbose);
        boolean fromStdin = stdinFlag || input != null;
        Cli.require(input == null || input.equals("-"), "unexpected argument %s: the only argument is '-' (read stdin)",
            Cli.quote(input));
        Cli.require(threads >= 1 && threads <= 1000, "--threads %d: must be from 1 to 1000", threads);
        Cli.require(count == null || count >= 1, "--count %d: must be at least 1", count);
        Cli.require(duration == null || !duration.isZero(), "--duration 0: must be positive");
        Cli.require(interval == null || !interval.isZero(),
            "--interval 0: must be positive (use --rate max for no pause)");
        Converters.requireDuration("--interval", interval, Duration.ofMillis(1), MAX_INTERVAL, "");
        Converters.requireDuration("--retry-timeout", retryTimeout, Duration.ofMillis(1), Duration.ofHours(24), "");
        Converters.requireRange("--payload-keys", payloadKeys, 0, MAX_SIZE / 1024, "~1 KiB each, " + (MAX_SIZE >> 20)
            + " MiB in all");
        Cli.require(size == null || size >= 1, "--size %d: must be at least 1 (nsqd refuses empty messages)", size);
        if (size != null) Converters.requireRange("--size", size, 1, MAX_SIZE, (MAX_SIZE >> 20)
            + " MiB; nsqd's --max-msg-size is 1 MiB by default");
        if (batch != null) Converters.requireRange("--batch", batch, 1, MAX_BATCH, "");
        Cli.require(defer == null || defer.compareTo(MAX_DEFER) <= 0,
            "--defer %s: at most 1h, nsqd's default --max-req-timeout (DPUB refuses longer)",
                Durations.format(defer == null ? Duration.ZERO : defer));
        Cli.require(defer == null || batch == null || batch == 1,
            "--batch %d with --defer: DPUB takes one message at a time", batch);
        Cli.require(!fromStdin || threads == 1,
            "--threads %d with stdin: stdin is published in order over one connection", threads);
        Cli.require(!fromStdin || size == null, "--size with stdin: the lines are the messages");
        Cli.require(groups == null || groups.stream().noneMatch(g -> g.endsWith("#ephemeral")),
            "--groups %s: an #ephemeral group keeps no messages for later consumers", Cli.quote(String.join(",",
                groups == null ? List.of() : groups)));
        long periodNs = Pacer.periodNanos(rate, interval, threads, fromStdin);
        Cli.require(periodNs <= MAX_INTERVAL.toNanos(), "--rate %s: too slow, at least one message per thread every %s",
            Cli.quote(rate),
            Durations.format(MAX_INTERVAL));
        byte delim = DelimitedReader.parseDelimiter(delimiter);
        config = client.config();
        statsdOptions.check(); // an unknown statsd host: exit 2 before anything is created

        // ---- wiring: one connection per thread, paced from a common start
        int eventSize = new ProducerEvents(stream, 0, payloadKeys, size).event(1).length;
        int perBatch = defer != null ? 1 : batch != null ? batch : periodNs > 0 ? 1 : AUTO_BATCH;
        if (!fromStdin) perBatch = Math.max(1, Math.min(perBatch, MAX_BATCH_BYTES / eventSize));
        requireHeap(fromStdin ? MAX_BATCH_BYTES : (long) perBatch * eventSize, fromStdin ? 1 : threads);
        // The last check done, the first effect: nothing is created on nsqd while an option may still be refused.
        if (groups != null && !groups.isEmpty()) GroupSetup.create(nsqdHttp.nsqdHttp, nsqd.nsqd, stream, groups,
            config.tls());
        if (count != null) budget.set(count);
        stats.start();
        statsd = statsdOptions.start();
        statsd.total("producer." + stream + ".published", sent::sum);
        statsd.total("producer." + stream + ".acknowledged", counters.acked::sum);
        statsd.total("producer." + stream + ".retries", counters.retries::sum);
        Pacer pacer = new Pacer(periodNs, System.nanoTime(), duration);
        Log.info("publishing %s to '%s' on %s: %s, %d thread(s), %s%s",
            fromStdin ? "stdin" : size != null ? size + "-byte messages" : "events of ~" + eventSize + " bytes",
            stream, nsqd.nsqd, pacer.describe(threads), threads,
            perBatch == 1 ? (defer != null ? "DPUB +" + Durations.format(defer) : "PUB") : "MPUB batches of "
                + perBatch,
            count != null ? ", " + count + " message(s)" : duration != null ? ", for " + Durations.format(duration)
                : "");
        List<Thread> workers = new ArrayList<>();
        for (int i = 0; i < (fromStdin ? 1 : threads); i++) {
            int index = i, n = perBatch;
            // Daemons, as every thread of ours: none may keep the JVM alive once call() returned.
            workers.add(Threads.start("producer-" + i, () -> work(() -> {
                if (fromStdin) publishStdin(delim, pacer, n);
                else publishEvents(index, pacer, n);
            })));
        }
        Thread progress = stats.startProgress(PROGRESS_EVERY);

        // ---- the loop: wait for the workers (their loops are below); --duration ends a stdin that has nothing to say
        for (Thread t : workers) {
            while (t.isAlive()) {
                t.join(Math.max(1, Math.min(pacer.nanosToDeadline() / 1_000_000, 60_000)));
                if (pacer.pastDeadline()) stop();
            }
        }
        progress.interrupt();
        stats.summary("done");
        closeStatsd();
        // Whatever happened, a message not acknowledged is a failed run.
        if (failure == null && stats.notAcked() == 0) return Cli.OK;
        // else the failure said why
        if (failure == null) Log.error("%d message(s) were not acknowledged by nsqd", stats.notAcked());
        return Cli.FAILURE;
    }

    /** The final flush: what the last interval counted goes out before the tool exits. */
    private void closeStatsd() {
        try {
            statsd.close();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt(); // exiting anyway; the last datagram may be lost
        }
    }

    /**
     * Each thread holds a batch and its encoded copy: fail at once, naming the numbers, rather than
     * with an OutOfMemoryError after publishing half of it.
     */
    private static void requireHeap(long batchBytes, int threads) {
        long need = 2 * batchBytes * threads, heap = Runtime.getRuntime().maxMemory();
        Cli.require(need <= heap * 3 / 4,
            "%d thread(s) x batches of %d KiB need ~%d MiB of heap; this JVM may use %d MiB: "
            + "use fewer --threads, a smaller --batch, --size or --payload-keys, or give java more (-Xmx, "
            + "JAVA_TOOL_OPTIONS)",
            threads, batchBytes >> 10, need >> 20, heap >> 20);
    }

    private interface Work { void run() throws Exception; }

    /** Runs one worker; a failure is reported once and stops the others (they finish their current batch). */
    private void work(Work body) {
        try {
            body.run();
        } catch (ReliablePublisher.Failure e) {
            fail(e.getMessage(), e);
        } catch (Exception | Error e) {
            // An Error too (OutOfMemoryError...): reported, and the run cannot end in exit 0.
            fail(e instanceof Error ? e.getClass().getSimpleName() + ": " + Errors.oneLine(e) : Errors.oneLine(e), e);
        }
    }

    private synchronized void fail(String message, Throwable e) {
        if (failure == null) {
            failure = message;
            Log.error("%s", message);
            if (Log.isDebug()) e.printStackTrace();
        } else {
            Log.debug("also failed: %s", message);
        }
        stop();
    }

    /** Generated events: a thread claims messages from the shared --count budget, batch by batch. */
    private void publishEvents(int index, Pacer pacer, int perBatch) throws Exception {
        ProducerEvents events = new ProducerEvents(stream, index, payloadKeys, size);
        try (ReliablePublisher pub = new ReliablePublisher(config, nsqd.nsqd, index, stream, defer, retryTimeout,
                counters)) {
            long seq = 0;
            while (!stopping) {
                int n = (int) claim(perBatch);
                if (n == 0) return;
                if (pacer.paced() && !pacer.awaitTurn(seq + n - 1, () -> stopping)) return;
                if (pacer.pastDeadline()) return;
                Batch bodies = events.batch(seq + 1, n); // written into the connection as it is sent
                seq += n;
                sent.add(n);
                pub.send(bodies);
            }
        }
    }

    /**
     * stdin: each batch is the lines that have arrived (a line goes out as soon as its delimiter
     * did), at most --batch of them. Lines already read are published even when stopping, the
     * last partial one too: a pipe cannot give them back.
     */
    private void publishStdin(byte delim, Pacer pacer, int perBatch) throws Exception {
        DelimitedReader reader = new DelimitedReader(stdin, delim, MAX_SIZE).start();
        stdinReader = reader;
        if (stopping) reader.stop(); // a stop() that came before the reader existed
        try (ReliablePublisher pub = new ReliablePublisher(config, nsqd.nsqd, 0, stream, defer, retryTimeout,
                counters)) {
            long published = 0;
            List<byte[]> records;
            while (budget.get() > 0 && (records = reader.nextBatch((int) Math.min(perBatch, budget.get()),
                    MAX_BATCH_BYTES)) != null) {
                List<byte[]> bodies = new ArrayList<>(records.size());
                for (byte[] r : records) {
                    if (r.length == 0) skipped.increment(); // NSQ refuses empty bodies
                    else bodies.add(r);
                }
                if (bodies.isEmpty()) continue;
                budget.addAndGet(-bodies.size());
                if (pacer.paced()) pacer.awaitTurn(published + bodies.size() - 1, () -> stopping);
                sent.add(bodies.size());
                pub.send(bodies);
                published += bodies.size();
            }
        }
        if (reader.lostAfterStop() > 0) {
            Log.warn("stdin: %d byte(s) arrived as the stop was taken in and were not published",
                reader.lostAfterStop());
        }
    }

    /** Takes up to {@code want} messages from the --count budget; 0 when it is spent. */
    private long claim(int want) {
        while (true) {
            long left = budget.get();
            if (left <= 0) return 0;
            long take = Math.min(left, want);
            if (budget.compareAndSet(left, left - take)) return take;
        }
    }
}
