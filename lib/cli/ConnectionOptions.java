package cli;

import java.time.Duration;
import java.util.List;
import nsq.HostPort;
import nsq.NsqConfig;
import picocli.CommandLine.Option;
import util.Durations;

/**
 * The connection options every tool shares, declared once as picocli mixins. Each takes its
 * default from the environment variable NSQ's own tooling conventions use.
 */
public final class ConnectionOptions {
    private ConnectionOptions() {}

    /** nsqd TCP addresses (publish and subscribe). */
    public static final class NsqdTcp {
        @Option(names = "--nsqd", paramLabel = "HOST:PORT", split = ",",
            defaultValue = "${env:NSQD_TCP_ADDRESS:-127.0.0.1:4150}",
            description = "nsqd TCP address; repeat or comma-separate for several (env NSQD_TCP_ADDRESS, default ${DEFAULT-VALUE}).")
        public List<HostPort> nsqd;
    }

    /** nsqd HTTP addresses (stats, topic and channel admin). */
    public static final class NsqdHttp {
        @Option(names = "--nsqd-http", paramLabel = "HOST:PORT", split = ",",
            defaultValue = "${env:NSQD_HTTP_ADDRESS:-127.0.0.1:4151}",
            description = "nsqd HTTP address; repeat or comma-separate for several (env NSQD_HTTP_ADDRESS, default ${DEFAULT-VALUE}).")
        public List<HostPort> nsqdHttp;
    }

    /** nsqlookupd HTTP addresses: when given, nsqd nodes are discovered through them. */
    public static final class LookupdHttp {
        @Option(names = {"--lookupd", "--lookupd-http"}, paramLabel = "HOST:PORT", split = ",",
            defaultValue = "${env:NSQLOOKUPD_HTTP_ADDRESS}",
            description = "nsqlookupd HTTP address; repeat or comma-separate for several. When set, nsqd nodes are discovered through it (env NSQLOOKUPD_HTTP_ADDRESS).")
        public List<HostPort> lookupd;

        public boolean enabled() { return lookupd != null && !lookupd.isEmpty(); }
    }

    /** How the NSQ client talks to nsqd: what IDENTIFY negotiates. */
    public static final class Client {
        @Option(names = "--heartbeat-interval", paramLabel = "DURATION", defaultValue = "${env:NSQ_HEARTBEAT_INTERVAL}",
            description = "How often nsqd sends heartbeats (NSQ's heartbeat_interval; env NSQ_HEARTBEAT_INTERVAL, default: nsqd's, 30s); "
                + "a connection silent for two of them is dropped and made again.")
        public Duration heartbeatInterval;

        /** The client's configuration, logging into this tool's log. */
        public NsqConfig config() {
            NsqConfig c = NsqConfig.defaults().withLogger(Log.nsq());
            if (heartbeatInterval != null) {
                Cli.require(heartbeatInterval.toMillis() >= 1000 && heartbeatInterval.toMillis() <= 60_000,
                    "--heartbeat-interval %s: must be 1s to 60s (nsqd's range)", Durations.format(heartbeatInterval));
                c = c.withHeartbeatInterval(heartbeatInterval);
            }
            return c;
        }
    }

    /** -v for debug logs, in every tool. */
    public static final class Verbosity {
        @Option(names = {"-v", "--verbose"}, description = "Log debug details on stderr.")
        public boolean verbose;
    }
}
