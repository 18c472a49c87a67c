//JAVA 17+
//DEPS info.picocli:picocli:4.7.7
//DEPS com.fasterxml.jackson.core:jackson-databind:2.18.2
//DEPS io.airlift:aircompressor:2.0.3
//DEPS com.kohlschutter.junixsocket:junixsocket-common:2.10.1
//DEPS com.kohlschutter.junixsocket:junixsocket-native-common:2.10.1
// Every file it stands on, by name: JBang cannot expand a glob when this file is fetched from a URL (LayoutTest keeps
// the list exact).
//SOURCES util/Backoff.java util/Durations.java util/Errors.java util/HostName.java util/Json.java util/SmallFile.java
//SOURCES util/Statsd.java util/Threads.java
//SOURCES nsq/Batch.java nsq/BufferSize.java nsq/Command.java nsq/Compression.java nsq/Connection.java nsq/Frame.java
//SOURCES nsq/FrameReader.java nsq/HostPort.java nsq/Identify.java nsq/InflatingInputStream.java nsq/Names.java
//SOURCES nsq/NsqConfig.java nsq/NsqException.java nsq/NsqLogger.java nsq/Pem.java nsq/SizedOutput.java nsq/Tls.java
//SOURCES nsq/WriteDeadlines.java
//SOURCES nsq/http/NsqHttp.java nsq/http/PlainHttp.java
//SOURCES nsq/publish/Publisher.java nsq/publish/ReliablePublisher.java
//SOURCES nsq/subscribe/Message.java nsq/subscribe/RdyShares.java nsq/subscribe/Session.java
//SOURCES nsq/subscribe/StaleAnswers.java nsq/subscribe/Subscriber.java
//SOURCES cli/Cli.java cli/ConnectionOptions.java cli/Converters.java cli/DeclaredOptions.java cli/DrainOnSignal.java
//SOURCES cli/Log.java
//SOURCES cli/StatsdOptions.java
//SOURCES activation/DeferredWake.java activation/WakeSocket.java
//SOURCES events/ProducerEvents.java
//SOURCES consume/CommandRunner.java consume/ConsumerOptions.java consume/DeadLetters.java consume/DeferredWakes.java
//SOURCES consume/GroupRun.java consume/MessageLifecycle.java consume/MessageOutput.java consume/ProcessGroups.java
//SOURCES consume/SeqVerifier.java consume/Workers.java

import cli.Cli;
import cli.ConnectionOptions;
import cli.Converters;
import cli.DeclaredOptions;
import cli.DrainOnSignal;
import cli.Log;
import com.fasterxml.jackson.databind.JsonNode;
import consume.CommandRunner;
import consume.ConsumerOptions;
import consume.GroupRun;
import consume.MessageLifecycle;
import consume.MessageOutput;
import consume.Workers;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.Callable;
import java.util.concurrent.ConcurrentLinkedDeque;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;
import nsq.Batch;
import nsq.HostPort;
import nsq.Names;
import nsq.NsqConfig;
import nsq.publish.ReliablePublisher;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import util.Durations;
import util.Errors;
import util.Json;

/**
 * mqueue's front door: the one file a JBang script names to handle NSQ messages in Java with
 * everything consumer.java does, or to publish. A script in the default package needs no import:
 * <pre>
 * //SOURCES https://example.org/mqueue/lib/Nsq.java
 * public class orders {
 *     public static void main(String... args) {
 *         Nsq.consumer(args).handle(m -> System.out.println(m.text()));
 *     }
 * }
 * </pre>
 * The handler model is go-nsq's: a handler that returns has its message finished (FIN, only then);
 * one that throws has it requeued after --backoff, and moved to the dead-letter stream after
 * --max-attempts; it may also finish, requeue (with a delay) or touch the message itself. The
 * script parses consumer.java's options and environment (--stream, --group, --timeout, --concurrency,
 * --max-in-flight, --max-attempts, TLS, AUTH, compression, --verify, ...) and has their --help; it
 * drains on SIGTERM, exits when idle, and is socket-activated when systemd passes it a socket,
 * exactly as consumer.java, which is this front door with two built-in handlers ({@link #print},
 * {@link #exec}).
 *
 * <p>NSQ is spoken by mqueue's own client (lib/nsq), not nsq-j: nsq-j buffers FIN/REQ/TOUCH for up to
 * 2 s (a drain would wait for them), sends no CLS, and its publisher sleeps 10 s holding its lock on a
 * failure and stalls ~40 ms per MPUB over 8 KiB (measured; README, "Write your own handler").
 */
public final class Nsq {
    private Nsq() {}

    /** A script's handler: runs on a worker, one message at a time per worker (--concurrency workers). */
    @FunctionalInterface
    public interface Handler {
        /** Returning finishes {@code m} (unless the handler answered it); throwing requeues it with --backoff. */
        void handle(Message m) throws Exception;
    }

    /**
     * A consumer that reads its options from {@code args} and the environment when it runs; named after the
     * calling class (the script) in --help and in its log lines.
     */
    public static Consumer consumer(String... args) {
        Class<?> caller = StackWalker.getInstance(StackWalker.Option.RETAIN_CLASS_REFERENCE).getCallerClass();
        return new Consumer(caller.getSimpleName(), args);
    }

    /**
     * A publisher configured by {@code args} and the environment as producer.java reads them: --nsqd
     * (NSQD_TCP_ADDRESS), TLS, AUTH, compression, --retry-timeout (60s). Bad usage is one line on stderr and exit 2;
     * --help prints and exits 0.
     */
    public static Publisher publisher(String... args) {
        PublisherCommand c = new PublisherCommand();
        int code = Cli.run(c, args);
        if (c.built == null) System.exit(code); // --help, --version or bad usage: said by picocli or Cli
        return c.built;
    }

    /**
     * consumer.java's default: each message on {@code out}, a line each (its body, or JSON), flushed in batches before
     * its FIN.
     */
    public static Handler print(OutputStream out, MessageOutput.Format format) { return new Print(out, format); }

    /**
     * consumer.java --exec: {@code /bin/sh -c command} per message, the body on stdin, exit 0 finishes it; killed past
     * {@code timeout}.
     */
    public static Handler exec(String command, Duration timeout) { return new Exec(command, timeout); }

    private record Print(OutputStream out, MessageOutput.Format format) implements Handler {
        @Override public void handle(Message m) {
            throw new UnsupportedOperationException("printed on the reader thread"); }
    }

    private record Exec(String command, Duration timeout) implements Handler {
        @Override public void handle(Message m) { throw new UnsupportedOperationException("run by a CommandRunner"); }
    }

    // ---- consuming

    /**
     * One consumer: {@link #handle} parses the options, runs until SIGTERM, --count, the idle timeout or a fatal
     * error, and ends the JVM with the exit code (0 after a clean drain, 1 on a failure, 2 on bad usage).
     *
     * <p>Thread model: the thread in {@link #handle} (or {@link #run}) owns the run; {@link #stop} may come from
     * any thread (it is the run's latch); the publisher is made once, under this object's lock.
     */
    public static final class Consumer {
        private final String[] args;
        private final List<Object> extras = new ArrayList<>();
        private String name;
        private volatile GroupRun run;
        private volatile boolean stopRequested;
        private volatile ConsumerOptions options;   // once parsed
        private Publisher publisher;                // under this
        // what tests inject
        activation.WakeSocket.Listener listener;
        Map<String, String> env;

        Consumer(String name, String... args) {
            this.name = name;
            this.args = args.clone();
        }

        /** The name in --help, the version line and every log line (default: the script's class). */
        public Consumer name(String n) {
            this.name = Objects.requireNonNull(n);
            return this;
        }

        /**
         * More options: an object with picocli {@code @Option} fields, parsed with the consumer's and shown in --help
         * (its class's {@code @Command} description and footer, when it has them, replace the default ones); or a
         * {@link cli.DeclaredOptions}, which declares its options (and may set the description) in code, as
         * consumer.java does so that its socket-activated starts read no annotations.
         */
        public Consumer options(Object extra) {
            extras.add(Objects.requireNonNull(extra));
            return this;
        }

        /** Runs {@code handler} for every message until the run ends, then ends the JVM with the exit code. */
        public void handle(Handler handler) { handle(() -> handler); }

        /**
         * As {@link #handle(Handler)}, the handler chosen once the options are parsed (consumer.java: print or --exec).
         */
        public void handle(Supplier<Handler> choose) {
            DrainOnSignal.run(() -> run(choose), this::stop, () -> options != null ? options.drainWait()
                    : Duration.ofSeconds(25), () -> {
                Log.warn("drain did not end within %s", Durations.format(options != null ? options.drainWait()
                    : Duration.ofSeconds(25)));
            });
        }

        /** Runs in this JVM and returns the exit code instead of ending the JVM (tests, or a script that goes on). */
        public int run(Supplier<Handler> choose) {
            activation.WakeSocket.prepare(env != null ? env : System.getenv());
            return commandLine(choose).execute(args);
        }

        /** The command line that runs it (tests set its out and err). */
        CommandLine commandLine(Supplier<Handler> choose) {
            CommandSpec spec = new Run(this, choose).spec().name(name);
            CommandLine cl = Cli.commandLine(spec);
            for (Object extra : extras) {
                if (extra instanceof DeclaredOptions declared) {
                    declared.declare(spec);
                    continue;
                }
                CommandSpec mixin = CommandSpec.forAnnotatedObject(extra);
                if (mixin.usageMessage().description().length > 0) spec.usageMessage().description(mixin.usageMessage()
                    .description());
                if (mixin.usageMessage().footer().length > 0) spec.usageMessage().footer(mixin.usageMessage().footer());
                cl.addMixin(extra.getClass().getSimpleName(), mixin);
            }
            return cl;
        }

        /** Stops the way SIGTERM does: the run drains, requeues what it holds and returns 0. */
        public void stop() {
            stopRequested = true;
            GroupRun r = run;
            if (r != null) r.stop();
        }

        /**
         * A publisher to the consumer's --nsqd with its TLS, AUTH and compression, for handlers that publish (a
         * pipeline step); thread-safe, closed when the run ends. Call it once the options are parsed: in the handler.
         */
        public synchronized Publisher publisher() {
            if (options == null) throw new IllegalStateException("publisher(): the options are not parsed yet; call it "
                + "in the handler");
            if (publisher == null) publisher = new Publisher(options.client.config(), options.nsqd.nsqd,
                HANDLER_RETRY_TIMEOUT);
            return publisher;
        }

        /** The run in progress (null before the options are parsed): its counts, for tests. */
        GroupRun current() { return run; }

        private int call(ConsumerOptions o, Supplier<Handler> choose) throws Exception {
            Log.init(name, o.verbosity.verbose);
            options = o;
            Handler h = Objects.requireNonNull(choose.get(), "no handler");
            GroupRun r;
            JavaHandler java = null;
            if (h instanceof Print p) {
                r = new GroupRun(o, p.out(), p.format());
            } else if (h instanceof Exec e) {
                r = new GroupRun(o, new CommandRunner(e.command(), o.group, o.concurrency, e.timeout()));
            } else {
                java = new JavaHandler(h, name, o.group, Math.max(1, o.concurrency));
                r = new GroupRun(o, java);
            }
            if (listener != null) r.listener(listener);
            if (env != null) r.env(env);
            if (java != null) java.run = r;
            run = r;
            if (stopRequested) r.stop();
            try {
                return r.call();
            } finally {
                synchronized (this) {
                    if (publisher != null) publisher.close();
                }
            }
        }
    }

    /**
     * How long a handler's publish retries an nsqd that does not acknowledge before it throws (its message is then
     * requeued).
     */
    static final Duration HANDLER_RETRY_TIMEOUT = Duration.ofSeconds(15);

    /**
     * The picocli command of a consumer: the shared consumer options, plus what the script adds ({@link
     * Consumer#options}). Its spec is built in code, as the options are ({@link DeclaredOptions}).
     */
    static final class Run implements Callable<Integer> {
        final ConsumerOptions options = new ConsumerOptions();
        private final Consumer consumer;
        private final Supplier<Handler> choose;

        Run(Consumer consumer, Supplier<Handler> choose) {
            this.consumer = consumer;
            this.choose = choose;
        }

        CommandSpec spec() {
            CommandSpec spec = CommandSpec.wrapWithoutInspection(this, Cli.FACTORY).version("mqueue 0.1");
            spec.usageMessage().sortOptions(false).width(100).description(
                "Handles the messages of streams (NSQ topics) read as a group (NSQ channel) with this script's "
                + "handler: returning finishes a message, an exception requeues it with --backoff (after "
                + "--max-attempts: the dead-letter stream).",
                "Exits 0 after --timeout without messages, after --count, or on SIGTERM/SIGINT after draining (running "
                + "handlers finish, the rest goes back to nsqd at once). Socket-activated by systemd when "
                + "LISTEN_FDS/LISTEN_PID say so.");
            options.declare(spec);
            DeclaredOptions.standardHelp(spec);
            return spec;
        }

        @Override public Integer call() throws Exception { return consumer.call(options, choose); }
    }

    /**
     * A script's handler on the run's workers: it gets each message as a {@link Message}; interrupted past
     * --drain-timeout.
     */
    private static final class JavaHandler extends Workers {
        private final Handler handler;
        private final String name, group;
        volatile GroupRun run;

        JavaHandler(Handler handler, String name, String group, int concurrency) {
            super(concurrency);
            this.handler = handler;
            this.name = name;
            this.group = group;
        }

        @Override public String describe() { return "handling with " + name + " (" + concurrency() + " at once)"; }

        @Override
        public String run(Job j) {
            try {
                handler.handle(new Message(j.stream, group, j.m, run.messages()));
                return null;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return "interrupted";
            } catch (Exception e) {
                String why = e.getMessage() != null ? Errors.oneLine(e) : null;
                return e.getClass().getSimpleName() + (why != null ? ": " + why : "");
            }
        }
    }

    /**
     * A message as a handler sees it. Its answer is given once: by the handler ({@link #finish}, {@link #requeue}),
     * else when the handler returns (FIN) or throws (REQ with --backoff); later answers are ignored.
     */
    public static final class Message {
        private final String stream, group;
        private final nsq.subscribe.Message m;
        private final MessageLifecycle lifecycle;

        Message(String stream, String group, nsq.subscribe.Message m, MessageLifecycle lifecycle) {
            this.stream = stream;
            this.group = group;
            this.m = m;
            this.lifecycle = lifecycle;
        }

        public byte[] body() { return m.body(); }

        /** The body as UTF-8 text. */
        public String text() { return new String(m.body(), StandardCharsets.UTF_8); }

        /** The body parsed as JSON (Jackson's tree; loaded on first use, off the start path). */
        public JsonNode json() throws IOException { return Json.MAPPER.readTree(m.body()); }

        /** nsqd's message id (16 characters). */
        public String id() { return m.id(); }

        /** Deliveries so far, this one included (1 the first time). */
        public int attempts() { return m.attempts(); }

        /** When nsqd received it: nanoseconds since the epoch, nsqd's clock. */
        public long timestampNanos() { return m.timestampNanos(); }

        public String stream() { return stream; }

        public String group() { return group; }

        /** FIN now, before the handler returns (then nothing it does can lose the message, nor bring it back). */
        public void finish() { lifecycle.finish(m); }

        /** Back to nsqd after --backoff's delay for this attempt; not a failure: it never goes to the dead letters. */
        public void requeue() { lifecycle.requeue(m, null); }

        /** Back to nsqd after {@code delay} (0: at once; nsqd caps it at its --max-req-timeout); not a failure. */
        public void requeue(Duration delay) { lifecycle.requeue(m, Objects.requireNonNull(delay)); }

        /**
         * Asks nsqd for another msg-timeout (the run already touches every message its handler holds, each
         * msg-timeout/2).
         */
        public void touch() { m.touch(); }

        @Override public String toString() { return m.toString() + " of stream " + stream; }
    }

    // ---- publishing

    /**
     * A publish nsqd did not acknowledge: refused for good ({@link #refused}), or not answered within the retry
     * timeout.
     */
    public static final class PublishException extends IOException {
        private final boolean refused;

        PublishException(ReliablePublisher.Failure f) {
            super(f.getMessage(), f);
            this.refused = f.refused();
        }

        /** nsqd (or a peer that is not nsqd) refused it: sending it again would be refused again. */
        public boolean refused() { return refused; }
    }

    /**
     * Publishes to nsqd, each call returning only after nsqd's OK (at least once: a lost connection is made again,
     * to the next --nsqd, and the unacknowledged messages sent again). Thread-safe: a call takes an idle connection
     * or opens one, so threads publishing at once each have their own and never wait for each other's round trips.
     *
     * <p>Thread model: idle connections wait in a concurrent deque; a call owns the one it took until it gives it back.
     * {@code closed} is volatile: a connection given back after {@link #close} is closed instead.
     */
    public static final class Publisher implements AutoCloseable {
        private final NsqConfig config;
        private final List<HostPort> nsqds;
        private final Duration retryTimeout;
        private final ConcurrentLinkedDeque<ReliablePublisher> idle = new ConcurrentLinkedDeque<>();
        private final AtomicInteger opened = new AtomicInteger();
        private final ReliablePublisher.Counters counters = new ReliablePublisher.Counters();
        private volatile boolean closed;

        Publisher(NsqConfig config, List<HostPort> nsqds, Duration retryTimeout) {
            this.config = config;
            this.nsqds = List.copyOf(nsqds);
            this.retryTimeout = retryTimeout;
        }

        /** PUB: returns once nsqd acknowledged it. */
        public void publish(String stream, byte[] body) throws PublishException { send(stream, null, List.of(body)); }

        /** PUB of {@code text} as UTF-8. */
        public void publish(String stream, String text) throws PublishException { publish(stream,
            text.getBytes(StandardCharsets.UTF_8)); }

        /**
         * MPUB: all of them or none, one acknowledgement (nsqd's --max-body-size, 5 MiB by default, bounds a batch).
         */
        public void publish(String stream, List<byte[]> bodies) throws PublishException { send(stream, null, bodies); }

        /** DPUB: delivered after {@code delay} (at most nsqd's --max-req-timeout, 1h by default). */
        public void publishDeferred(String stream, Duration delay, byte[] body) throws PublishException {
            if (delay.isNegative()) throw new IllegalArgumentException("delay " + delay + ": must not be negative");
            send(stream, delay, List.of(body));
        }

        /** Messages nsqd acknowledged so far. */
        public long acknowledged() { return counters.acked.sum(); }

        private void send(String stream, Duration defer, List<byte[]> bodies) throws PublishException {
            Names.check("topic", stream);
            if (bodies.isEmpty()) throw new IllegalArgumentException("nothing to publish");
            for (byte[] b
                : bodies) if (b.length == 0) throw new IllegalArgumentException("an empty message: nsqd refuses those");
            if (closed) throw new IllegalStateException("publisher closed");
            ReliablePublisher p = idle.pollFirst();
            if (p == null) p = new ReliablePublisher(config, nsqds, opened.getAndIncrement(), stream, null,
                retryTimeout, counters);
            boolean healthy = false;
            try {
                p.send(stream, defer, Batch.of(bodies));
                healthy = true;
            } catch (ReliablePublisher.Failure f) {
                throw new PublishException(f);
            } finally {
                if (!healthy || closed) p.close();
                else idle.offerFirst(p);
                if (closed) for (ReliablePublisher q; (q = idle.pollFirst()) != null; ) q.close();
            }
        }

        @Override
        public void close() {
            closed = true;
            for (ReliablePublisher p; (p = idle.pollFirst()) != null; ) p.close();
        }
    }

    /** Nsq.publisher(args)'s options: those of producer.java's that a connection needs. */
    @Command(name = "publisher", mixinStandardHelpOptions = true, version = "mqueue 0.1", sortOptions = false)
    static final class PublisherCommand implements Callable<Integer>, DeclaredOptions {
        @Option(names = "--retry-timeout", defaultValue = "${env:RETRY_TIMEOUT:-60s}", paramLabel = "DURATION",
            description = "Give up on a publish (it throws) after nsqd failed to acknowledge it for this long (env "
                + "RETRY_TIMEOUT, default ${DEFAULT-VALUE}).")
        Duration retryTimeout;
        final ConnectionOptions.NsqdTcp nsqd = new ConnectionOptions.NsqdTcp();
        final ConnectionOptions.Client client = new ConnectionOptions.Client();
        final ConnectionOptions.Verbosity verbosity = new ConnectionOptions.Verbosity();
        Publisher built;

        /** The shared options, after --retry-timeout (Cli.commandLine calls it). */
        @Override
        public void declare(CommandSpec spec) { DeclaredOptions.declareAll(spec, nsqd, client, verbosity); }

        @Override
        public Integer call() {
            Log.init("publisher", verbosity.verbose);
            Converters.requireDuration("--retry-timeout", retryTimeout, Duration.ofMillis(1), Duration.ofHours(24), "");
            built = new Publisher(client.config(), nsqd.nsqd, retryTimeout);
            return Cli.OK;
        }
    }
}
