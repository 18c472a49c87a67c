package consume;

import cli.ConnectionOptions;
import cli.Converters;
import cli.DeclaredOptions;
import cli.StatsdOptions;
import java.time.Duration;
import java.util.List;
import picocli.CommandLine.Model.CommandSpec;

/**
 * Every option of a consumer, declared once: consumer.java and every handler script that goes through
 * lib/Nsq.java add these, so they parse the same command line and environment and show the same
 * --help. What a script adds (consumer.java's --exec and --format) it declares itself. The rules the
 * parser cannot check are {@link GroupRun}'s, which reads these. Declared in code, not with picocli's
 * annotations: a socket-activated start reads no annotations ({@link DeclaredOptions}).
 */
public final class ConsumerOptions implements DeclaredOptions {
    public List<String> streams;
    public String group;
    public Duration timeout;
    public Duration backlogLinger;
    public ConnectionOptions.NsqdTcp nsqd = new ConnectionOptions.NsqdTcp();
    public ConnectionOptions.LookupdHttp lookupd = new ConnectionOptions.LookupdHttp();
    public ConnectionOptions.Client client = new ConnectionOptions.Client();
    public ConnectionOptions.Delivery delivery = new ConnectionOptions.Delivery();
    public Duration lookupdInterval;
    public Duration connectTimeout;
    public Integer maxInFlight;
    public int connections;
    public long count;
    public int concurrency;
    public String backoffSpec;
    public int maxAttempts;
    public String deadLetter;
    public boolean verify;
    public Long expect;
    public Duration drainTimeout;
    public boolean socketActivation;
    public Duration maxReqTimeout;
    public StatsdOptions statsd = new StatsdOptions();
    public ConnectionOptions.Verbosity verbosity = new ConnectionOptions.Verbosity();

    /**
     * The command these options are part of: what its command line said, as opposed to the environment (--nsqd with
     * --lookupd). Null for options made by hand (tests).
     */
    public CommandSpec spec;

    @Override
    public void declare(CommandSpec spec) {
        this.spec = spec;
        spec.addOption(DeclaredOptions.list(String.class, v -> streams = v, "-s", "--stream").paramLabel("NAME")
            .converters(new Converters.Stream()).defaultValue("${env:STREAM}")
            .description("Stream to read; repeat or comma-separate for several (env STREAM).").build());
        spec.addOption(DeclaredOptions.option(String.class, v -> group = v, "-g", "--group").paramLabel("NAME")
            .converters(new Converters.Group()).defaultValue("${env:GROUP}")
            .description("Group (NSQ channel); NAME#ephemeral for one that nsqd forgets when its last consumer leaves "
                + "(env GROUP).").build());
        spec.addOption(DeclaredOptions.option(Duration.class, v -> timeout = v, "--timeout").paramLabel("DURATION")
            .defaultValue("${env:TIMEOUT}")
            .description("Exit 0 after this long without a message and with nothing in flight; 0 = never "
                + "(env TIMEOUT; default 0, or 30s when socket-activated). A bare number is seconds.").build());
        spec.addOption(DeclaredOptions.option(Duration.class, v -> backlogLinger = v, "--backlog-linger")
            .paramLabel("DURATION").defaultValue("${env:BACKLOG_LINGER:-1s}")
            .description("Socket-activated and woken only for messages that were waiting (the wakeup's scan, not a "
                + "fresh publish): exit after this long without a message instead of --timeout, once they are done; a "
                + "wake for a fresh publish restores --timeout. 0 = always --timeout (env BACKLOG_LINGER, default "
                + "${DEFAULT-VALUE}).").build());
        DeclaredOptions.declareAll(spec, nsqd, lookupd, client, delivery);
        spec.addOption(DeclaredOptions.option(Duration.class, v -> lookupdInterval = v, "--lookupd-interval")
            .paramLabel("DURATION").defaultValue("${env:LOOKUPD_POLL_INTERVAL:-15s}")
            .description("How often to ask nsqlookupd for new nsqd nodes (env LOOKUPD_POLL_INTERVAL, default "
                + "${DEFAULT-VALUE}).").build());
        spec.addOption(DeclaredOptions.option(Duration.class, v -> connectTimeout = v, "--connect-timeout")
            .paramLabel("DURATION").defaultValue("${env:CONNECT_TIMEOUT:-15s}")
            .description("At start, how long to wait for the first subscription before exiting 1; an nsqd or "
                + "nsqlookupd that refuses connections (or an unknown host) fails within 5s (env CONNECT_TIMEOUT, "
                + "default ${DEFAULT-VALUE}).").build());
        spec.addOption(DeclaredOptions.option(Integer.class, v -> maxInFlight = v, "--max-in-flight").paramLabel("N")
            .defaultValue("${env:MAX_IN_FLIGHT}")
            .description("Messages nsqd may hand us before we answer (env MAX_IN_FLIGHT; default 2500 (nsqd's "
                + "max-rdy-count) when printing, --concurrency when a handler or command runs per message, so none "
                + "waits toward nsqd's msg-timeout).").build());
        spec.addOption(DeclaredOptions.option(int.class, v -> connections = v, "--connections").paramLabel("N")
            .defaultValue("${env:NSQD_CONNECTIONS:-1}")
            .description("Connections to each nsqd per stream, sharing --max-in-flight: nsqd sends on each from one "
                + "goroutine, so a second one lets a fast reader take a second core of nsqd's (env NSQD_CONNECTIONS, "
                + "default ${DEFAULT-VALUE}).").build());
        spec.addOption(DeclaredOptions.option(long.class, v -> count = v, "--count").paramLabel("N")
            .defaultValue("${env:COUNT:-0}")
            .description("Exit after N messages handled; 0 = no limit (env COUNT, default ${DEFAULT-VALUE}).").build());
        spec.addOption(DeclaredOptions.option(int.class, v -> concurrency = v, "--concurrency").paramLabel("N")
            .defaultValue("${env:CONCURRENCY:-1}")
            .description("Messages handled at once, each on a worker of its own (env CONCURRENCY, default "
                + "${DEFAULT-VALUE}).").build());
        spec.addOption(DeclaredOptions.option(String.class, v -> backoffSpec = v, "--backoff").paramLabel("INITIAL/MAX")
            .defaultValue("${env:BACKOFF:-1s/2m}")
            .description("Requeue delay after a failure: INITIAL, doubled per attempt, capped at MAX (env BACKOFF, "
                + "default ${DEFAULT-VALUE}).").build());
        spec.addOption(DeclaredOptions.option(int.class, v -> maxAttempts = v, "--max-attempts").paramLabel("N")
            .defaultValue("${env:MAX_ATTEMPTS:-5}")
            .description("After N failed attempts, publish the message to the dead-letter stream (as JSON with its "
                + "metadata, or its bare body when that would exceed nsqd's --max-msg-size) and finish it; 0 = retry "
                + "forever (env MAX_ATTEMPTS, default ${DEFAULT-VALUE}).").build());
        spec.addOption(DeclaredOptions.option(String.class, v -> deadLetter = v, "--dead-letter").paramLabel("NAME")
            .converters(new Converters.Stream()).defaultValue("${env:DEAD_LETTER}")
            .description("Dead-letter stream (env DEAD_LETTER; default <stream>.dead).").build());
        spec.addOption(DeclaredOptions.option(boolean.class, v -> verify = v, "--verify")
            .defaultValue("${env:VERIFY:-false}")
            .description("Count producer.java events per producer and report on exit: count, highest seq, "
                + "missing-at-start (seq 1 up to the lowest seen), gaps, duplicates (env VERIFY).").build());
        spec.addOption(DeclaredOptions.option(Long.class, v -> expect = v, "--expect").paramLabel("N")
            .defaultValue("${env:EXPECT}")
            .description("Implies --verify: exit 1 (one line naming who fell short) unless seq 1..N of every producer "
                + "arrived (env EXPECT).").build());
        spec.addOption(DeclaredOptions.option(Duration.class, v -> drainTimeout = v, "--drain-timeout")
            .paramLabel("DURATION").defaultValue("${env:DRAIN_TIMEOUT:-15s}")
            .description("On SIGTERM/SIGINT, how long running handlers may finish before they are stopped (a command "
                + "killed) and their messages requeued (env DRAIN_TIMEOUT, default ${DEFAULT-VALUE}).").build());
        spec.addOption(DeclaredOptions.option(boolean.class, v -> socketActivation = v, "--socket-activation")
            .defaultValue("${env:SOCKET_ACTIVATION:-false}")
            .description("Require the wake socket from systemd (fd 3); automatic when LISTEN_PID is this process (env "
                + "SOCKET_ACTIVATION).").build());
        spec.addOption(DeclaredOptions.option(Duration.class, v -> maxReqTimeout = v, "--max-req-timeout")
            .paramLabel("DURATION").defaultValue("${env:MAX_REQ_TIMEOUT:-1h}")
            .description("nsqd's --max-req-timeout: requeue delays are clamped to it as nsqd clamps them, and logged "
                + "as such (env MAX_REQ_TIMEOUT, default ${DEFAULT-VALUE}, nsqd's default).").build());
        DeclaredOptions.declareAll(spec, statsd, verbosity);
    }

    /** How long the JVM waits for the drain on SIGTERM before it gives up: --drain-timeout and 10 s for the rest. */
    public Duration drainWait() { return (drainTimeout != null ? drainTimeout
        : Duration.ofSeconds(15)).plusSeconds(10); }
}
