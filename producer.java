///usr/bin/env jbang "$0" "$@" ; exit $?
//JAVA 17+
//SOURCES lib/*.java

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

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
            + "print the summary, exit 0. Exit 1 on a runtime failure, 2 on bad usage. Logs on stderr.", ""},
    footer = {"", "Examples:",
        "  producer -s foo                      # an event a second, like the seed",
        "  PAYLOAD_KEYS=1000 THREADS=4 producer -s foo   # 4 publishers, ~1 MiB events",
        "  producer -s foo --rate max --size 200 --count 1000000",
        "  cat events.jsonl | producer -s foo -"})
public class producer implements Callable<Integer> {
    static final int AUTO_BATCH = 200;            // MPUB size for unpaced runs (measured: README, make bench-producer)
    static final int MAX_BATCH_BYTES = 4 << 20;   // stays under nsqd's default --max-body-size (5 MiB)
    static final Duration MAX_DEFER = Duration.ofHours(1); // nsqd's default --max-req-timeout
    static final Duration PROGRESS_EVERY = Duration.ofSeconds(5);
    static final Duration SHUTDOWN_GRACE = Duration.ofSeconds(10);

    @Option(names = {"-s", "--stream"}, required = true, defaultValue = "${env:STREAM}", converter = Names.Stream.class,
        description = "Stream (NSQ topic) to publish to (env STREAM).")
    String stream;
    @Mixin ConnectionOptions.NsqdTcp nsqd;
    @Option(names = "--interval", defaultValue = "${env:INTERVAL}", paramLabel = "DURATION",
        description = "Pause between events of each thread (env INTERVAL, default 1s; with '-': no pause).")
    Duration interval;
    @Option(names = "--rate", defaultValue = "${env:RATE}", paramLabel = "N|max",
        description = "Messages per second across all threads, or 'max': as fast as nsqd acknowledges (env RATE). Wins over --interval.")
    String rate;
    @Option(names = "--count", paramLabel = "N", defaultValue = "${env:COUNT}", description = "Stop after N messages in total (env COUNT; default: no limit).")
    Long count;
    @Option(names = "--duration", paramLabel = "DURATION", defaultValue = "${env:DURATION}", description = "Stop after this long (env DURATION; default: until SIGINT/SIGTERM).")
    Duration duration;
    @Option(names = "--payload-keys", defaultValue = "${env:PAYLOAD_KEYS:-10}", paramLabel = "N",
        description = "Keys in the event's payload, ~1 KiB each: 1000 keys = ~1 MiB (env PAYLOAD_KEYS, default ${DEFAULT-VALUE}).")
    int payloadKeys;
    @Option(names = "--size", defaultValue = "${env:SIZE}", paramLabel = "BYTES",
        description = "Make every body exactly BYTES long instead (the event padded; for benchmarks) (env SIZE).")
    Integer size;
    @Option(names = "--threads", defaultValue = "${env:THREADS:-1}", paramLabel = "N",
        description = "Independent publishers, each with its own connection (env THREADS; make maps GOROUTINES; default ${DEFAULT-VALUE}).")
    int threads;
    @Option(names = "--batch", defaultValue = "${env:BATCH}", paramLabel = "N",
        description = "Messages per MPUB (env BATCH; default " + AUTO_BATCH + " when unpaced, 1 when paced). Batches stay under 4 MiB.")
    Integer batch;
    @Option(names = "--defer", defaultValue = "${env:DEFER}", paramLabel = "DURATION",
        description = "Deliver each message this much later (DPUB, one message per command); at most 1h, nsqd's default --max-req-timeout (env DEFER).")
    Duration defer;
    @Option(names = "--stdin", description = "Publish stdin, like '-'.")
    boolean stdinFlag;
    @Parameters(arity = "0..1", paramLabel = "-", description = "'-': publish stdin: each line (or --delimiter record) is one message, bytes kept as they are; empty lines are skipped and counted.")
    String input;
    @Option(names = "--delimiter", defaultValue = "${env:DELIMITER:-\\n}", paramLabel = "CHAR",
        description = "Record separator for stdin: one byte, or \\n, \\t, \\r, \\0 (env DELIMITER, default \\n).")
    String delimiter;
    @Option(names = "--retry-timeout", defaultValue = "${env:RETRY_TIMEOUT:-60s}", paramLabel = "DURATION",
        description = "Give up (exit 1) after nsqd failed to acknowledge for this long (env RETRY_TIMEOUT, default ${DEFAULT-VALUE}).")
    Duration retryTimeout;
    @Mixin ConnectionOptions.Verbosity verbosity;

    // Counters a test (or the progress line) reads while it runs.
    final ReliablePublisher.Counters counters = new ReliablePublisher.Counters();
    final LongAdder sent = new LongAdder(), skipped = new LongAdder();
    InputStream stdin = System.in; // tests substitute their own bytes
    private final AtomicLong budget = new AtomicLong(Long.MAX_VALUE);
    private final CountDownLatch finished = new CountDownLatch(1);
    private volatile boolean stopping, waitingForStdin;
    private volatile String failure;
    private volatile int exitCode = Cli.FAILURE;
    private long startNs;

    public static void main(String... args) {
        producer p = new producer();
        Runtime.getRuntime().addShutdownHook(new Thread(p::onSignal, "shutdown"));
        p.exitCode = Cli.run(p, args);
        p.finished.countDown();
        System.exit(p.exitCode);
    }

    /** Stops generating; call() returns once the outstanding messages are acknowledged (or given up on). */
    void stop() { stopping = true; }

    String failure() { return failure; }

    long acked() { return counters.acked.sum(); }

    /** SIGINT/SIGTERM: the same stop(), then exit with call()'s code once it finished (bounded). */
    private void onSignal() {
        if (finished.getCount() == 0) return; // a normal exit, not a signal
        stop();
        try {
            if (finished.await(SHUTDOWN_GRACE.toMillis(), TimeUnit.MILLISECONDS)) Runtime.getRuntime().halt(exitCode);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        Log.error("stopped after waiting %s for nsqd: %d message(s) not acknowledged", Cli.format(SHUTDOWN_GRACE), sent.sum() - acked());
        summary("summary");
        Runtime.getRuntime().halt(Cli.FAILURE);
    }

    @Override
    public Integer call() throws Exception {
        Log.init("producer", verbosity.verbose);
        boolean fromStdin = stdinFlag || input != null;
        Cli.require(input == null || input.equals("-"), "unexpected argument '%s': the only argument is '-' (read stdin)", input);
        Cli.require(threads >= 1 && threads <= 1000, "--threads %d: must be from 1 to 1000", threads);
        Cli.require(count == null || count >= 1, "--count %d: must be at least 1", count);
        Cli.require(duration == null || !duration.isZero(), "--duration 0: must be positive");
        Cli.require(interval == null || !interval.isZero(), "--interval 0: must be positive (use --rate max for no pause)");
        Cli.require(payloadKeys >= 0, "--payload-keys %d: must be 0 or more", payloadKeys);
        Cli.require(size == null || size >= 1, "--size %d: must be at least 1 (nsqd refuses empty messages)", size);
        Cli.require(batch == null || batch >= 1, "--batch %d: must be at least 1", batch);
        Cli.require(defer == null || defer.compareTo(MAX_DEFER) <= 0,
            "--defer %s: at most 1h, nsqd's default --max-req-timeout (DPUB refuses longer)", Cli.format(defer == null ? Duration.ZERO : defer));
        Cli.require(defer == null || batch == null || batch == 1, "--batch %d with --defer: DPUB takes one message at a time", batch);
        Cli.require(!fromStdin || threads == 1, "--threads %d with stdin: stdin is published in order over one connection", threads);
        Cli.require(!fromStdin || size == null, "--size with stdin: the lines are the messages");
        double perSecond = parseRate(rate);
        byte delim = parseDelimiter(delimiter);

        // Pacing: each thread's k-th message is due at start + k * period (0 = as fast as acknowledged).
        long periodNs = perSecond > 0 ? Math.round(threads * 1e9 / perSecond)
            : perSecond < 0 ? 0 : interval != null ? interval.toNanos() : fromStdin ? 0 : 1_000_000_000L;
        int perBatch = defer != null ? 1 : batch != null ? batch : periodNs > 0 ? 1 : AUTO_BATCH;
        if (count != null) budget.set(count);

        Events sample = new Events(stream, 0, payloadKeys, size);
        int eventSize = sample.event(1).length;
        if (!fromStdin) perBatch = Math.max(1, Math.min(perBatch, MAX_BATCH_BYTES / eventSize));
        Log.info("publishing %s to '%s' on %s: %s, %d thread(s), %s%s",
            fromStdin ? "stdin" : size != null ? size + "-byte messages" : "events of ~" + eventSize + " bytes",
            stream, nsqd.nsqd, periodNs == 0 ? "as fast as acknowledged" : String.format(Locale.ROOT, "%.1f msg/s", threads * 1e9 / periodNs),
            threads, perBatch == 1 ? (defer != null ? "DPUB +" + Cli.format(defer) : "PUB") : "MPUB batches of " + perBatch,
            count != null ? ", " + count + " message(s)" : duration != null ? ", for " + Cli.format(duration) : "");

        startNs = System.nanoTime();
        long deadlineNs = duration == null ? Long.MAX_VALUE : startNs + duration.toNanos();
        List<Thread> workers = new ArrayList<>();
        for (int i = 0; i < (fromStdin ? 1 : threads); i++) {
            int index = i;
            final int n = perBatch;
            Thread t = new Thread(() -> work(() -> {
                if (fromStdin) publishStdin(delim, periodNs, n, deadlineNs);
                else publishEvents(index, periodNs, n, deadlineNs);
            }), "producer-" + i);
            t.setDaemon(true); // a thread blocked reading stdin must not keep the JVM alive
            t.start();
            workers.add(t);
        }
        Thread progress = new Thread(this::progress, "progress");
        progress.setDaemon(true);
        progress.start();
        for (Thread t : workers) {
            // stdin may block forever; after stop() a reader waiting for its next line holds nothing unacknowledged.
            while (t.isAlive() && !(stopping && waitingForStdin)) t.join(100);
        }
        progress.interrupt();
        summary("done");
        if (failure == null) return Cli.OK;
        long lost = sent.sum() - acked();
        if (lost > 0) Log.error("%d message(s) were not acknowledged by nsqd", lost);
        return Cli.FAILURE;
    }

    private interface Work { void run() throws Exception; }

    /** Runs one worker; a failure is reported once and stops the others (they finish their current batch). */
    private void work(Work body) {
        try {
            body.run();
        } catch (ReliablePublisher.Failure e) {
            fail(e.getMessage(), e);
        } catch (Exception e) {
            fail(Cli.describe(e), e);
        }
    }

    private synchronized void fail(String message, Exception e) {
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
    private void publishEvents(int index, long periodNs, int perBatch, long deadlineNs) throws Exception {
        Events events = new Events(stream, index, payloadKeys, size);
        try (ReliablePublisher pub = new ReliablePublisher(nsqd.nsqd, index, stream, defer, retryTimeout, counters)) {
            long seq = 0;
            while (!stopping) {
                int n = (int) claim(perBatch);
                if (n == 0) return;
                if (periodNs > 0 && !waitUntil(startNs + (seq + n - 1) * periodNs, deadlineNs)) return;
                if (System.nanoTime() >= deadlineNs) return;
                List<byte[]> bodies = new ArrayList<>(n);
                for (int i = 0; i < n; i++) bodies.add(events.event(++seq));
                sent.add(n);
                pub.send(bodies);
            }
        }
    }

    /** stdin: a batch holds what can be read without waiting, so a slow pipe is published line by line. */
    private void publishStdin(byte delim, long periodNs, int perBatch, long deadlineNs) throws Exception {
        DelimitedReader reader = new DelimitedReader(stdin, delim);
        try (ReliablePublisher pub = new ReliablePublisher(nsqd.nsqd, 0, stream, defer, retryTimeout, counters)) {
            long published = 0;
            boolean eof = false;
            while (!eof && !stopping && System.nanoTime() < deadlineNs) {
                List<byte[]> bodies = new ArrayList<>();
                long bytes = 0;
                while (bodies.size() < perBatch && bytes < MAX_BATCH_BYTES && (bodies.isEmpty() || reader.ready())) {
                    if (budget.get() <= 0 || (bodies.isEmpty() && stopping)) { eof = true; break; }
                    waitingForStdin = bodies.isEmpty();
                    byte[] record = reader.next();
                    waitingForStdin = false;
                    if (record == null) { eof = true; break; }
                    if (record.length == 0) { skipped.increment(); continue; } // NSQ refuses empty bodies
                    budget.decrementAndGet();
                    bodies.add(record);
                    bytes += record.length;
                }
                if (bodies.isEmpty()) continue;
                // Lines already read are published even when stopping: a pipe cannot give them back.
                if (periodNs > 0) waitUntil(startNs + (published + bodies.size() - 1) * periodNs, deadlineNs);
                sent.add(bodies.size());
                pub.send(bodies);
                published += bodies.size();
            }
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

    /** Sleeps until {@code dueNs}; false when stopped or past the deadline first. */
    private boolean waitUntil(long dueNs, long deadlineNs) throws InterruptedException {
        while (!stopping) {
            long now = System.nanoTime();
            if (now >= deadlineNs) return false;
            long left = Math.min(dueNs, deadlineNs) - now;
            if (left <= 0) return now < deadlineNs;
            TimeUnit.NANOSECONDS.sleep(Math.min(left, 50_000_000L)); // wake up now and then to notice stop()
        }
        return false;
    }

    private void progress() {
        long lastAcked = 0, lastBytes = 0, lastNs = startNs;
        try {
            while (true) {
                Thread.sleep(PROGRESS_EVERY.toMillis());
                long now = System.nanoTime(), acked = acked(), bytes = counters.ackedBytes.sum();
                double secs = (now - lastNs) / 1e9;
                Log.info("progress: %d sent, %d acknowledged, %.0f msg/s, %.2f MB/s, %d retries",
                    sent.sum(), acked, (acked - lastAcked) / secs, (bytes - lastBytes) / secs / 1e6, counters.retries.sum());
                lastAcked = acked;
                lastBytes = bytes;
                lastNs = now;
            }
        } catch (InterruptedException done) {
            Thread.currentThread().interrupt(); // the run is over; the summary follows
        }
    }

    private void summary(String label) {
        double secs = Math.max(1e-9, (System.nanoTime() - startNs) / 1e9);
        long acked = acked(), notAcked = sent.sum() - acked;
        Log.info("%s: %d sent, %d acknowledged, %d not acknowledged, %.0f msg/s, %.2f MB/s, %d retries, %d empty skipped, %s",
            label, sent.sum(), acked, notAcked, acked / secs, counters.ackedBytes.sum() / secs / 1e6,
            counters.retries.sum(), skipped.sum(), Cli.format(Duration.ofNanos(System.nanoTime() - startNs)));
    }

    /** "max" is -1, a number of messages per second is itself, unset is 0. */
    static double parseRate(String text) {
        if (text == null || text.isBlank()) return 0;
        if (text.trim().equalsIgnoreCase("max")) return -1;
        try {
            double r = Double.parseDouble(text.trim());
            if (r > 0 && Double.isFinite(r)) return r;
        } catch (NumberFormatException notANumber) {
            // falls through to the usage error below, which names the value
        }
        throw new Cli.UsageException("--rate '" + text + "': must be a positive number of messages per second, or 'max'");
    }

    static byte parseDelimiter(String text) {
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

    /**
     * One thread's events: {"stream","producer","seq","ts_ns","payload"} with a payload built once
     * by Jackson (N keys of exactly 1 KiB each), or padded to exactly --size bytes.
     */
    static final class Events {
        private final byte[] head, tail;
        private final Integer size;

        Events(String stream, int thread, int payloadKeys, Integer size) throws IOException {
            String producerId = NsqConnection.hostname() + ":" + ProcessHandle.current().pid() + ":" + thread;
            this.head = ("{\"stream\":" + NsqHttp.JSON.writeValueAsString(stream) + ",\"producer\":"
                + NsqHttp.JSON.writeValueAsString(producerId) + ",\"seq\":").getBytes(StandardCharsets.UTF_8);
            this.size = size;
            this.tail = size != null ? new byte[0] : concat(",\"payload\":".getBytes(StandardCharsets.UTF_8),
                NsqHttp.JSON.writeValueAsBytes(payload(payloadKeys)), new byte[] {'}'});
        }

        /** "key1":"..." entries of 1024 bytes each (with the comma), so N keys are N KiB. */
        static Map<String, String> payload(int keys) {
            Map<String, String> m = new LinkedHashMap<>();
            String alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
            for (int i = 1; i <= keys; i++) {
                String key = "key" + i;
                StringBuilder v = new StringBuilder(1018);
                for (int j = 0; v.length() < 1018 - key.length(); j++) v.append(alphabet.charAt((i + j) % alphabet.length()));
                m.put(key, v.toString());
            }
            return m;
        }

        byte[] event(long seq) {
            Instant now = Instant.now();
            byte[] mid = (seq + ",\"ts_ns\":" + (now.getEpochSecond() * 1_000_000_000L + now.getNano()))
                .getBytes(StandardCharsets.US_ASCII);
            if (size == null) return concat(head, mid, tail);
            // --size: {"...","seq":N,"ts_ns":T,"pad":"xxx"} of exactly size bytes; filler when too small for that.
            int pad = size - head.length - mid.length - 10;
            byte[] out = new byte[size];
            if (pad < 0) {
                java.util.Arrays.fill(out, (byte) 'x');
                return out;
            }
            byte[] open = ",\"pad\":\"".getBytes(StandardCharsets.US_ASCII);
            int p = put(out, 0, head);
            p = put(out, p, mid);
            p = put(out, p, open);
            java.util.Arrays.fill(out, p, p + pad, (byte) 'x');
            out[p + pad] = '"';
            out[p + pad + 1] = '}';
            return out;
        }

        private static int put(byte[] to, int at, byte[] from) {
            System.arraycopy(from, 0, to, at, from.length);
            return at + from.length;
        }

        private static byte[] concat(byte[]... parts) {
            int n = 0;
            for (byte[] p : parts) n += p.length;
            byte[] out = new byte[n];
            int at = 0;
            for (byte[] p : parts) at = put(out, at, p);
            return out;
        }
    }
}
