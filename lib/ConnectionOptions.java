import java.util.List;
import picocli.CommandLine.Option;

/**
 * The connection options every tool shares, declared once as picocli mixins. Each takes its
 * default from the environment variable NSQ's own tooling conventions use.
 */
final class ConnectionOptions {
    private ConnectionOptions() {}

    /** nsqd TCP addresses (publish and subscribe). */
    static final class NsqdTcp {
        @Option(names = "--nsqd", paramLabel = "HOST:PORT", split = ",",
            defaultValue = "${env:NSQD_TCP_ADDRESS:-127.0.0.1:4150}",
            description = "nsqd TCP address; repeat or comma-separate for several (env NSQD_TCP_ADDRESS, default ${DEFAULT-VALUE}).")
        List<HostPort> nsqd;
    }

    /** nsqd HTTP addresses (stats, topic and channel admin). */
    static final class NsqdHttp {
        @Option(names = "--nsqd-http", paramLabel = "HOST:PORT", split = ",",
            defaultValue = "${env:NSQD_HTTP_ADDRESS:-127.0.0.1:4151}",
            description = "nsqd HTTP address; repeat or comma-separate for several (env NSQD_HTTP_ADDRESS, default ${DEFAULT-VALUE}).")
        List<HostPort> nsqdHttp;
    }

    /** nsqlookupd HTTP addresses: when given, nsqd nodes are discovered through them. */
    static final class LookupdHttp {
        @Option(names = {"--lookupd", "--lookupd-http"}, paramLabel = "HOST:PORT", split = ",",
            defaultValue = "${env:NSQLOOKUPD_HTTP_ADDRESS}",
            description = "nsqlookupd HTTP address; repeat or comma-separate for several. When set, nsqd nodes are discovered through it (env NSQLOOKUPD_HTTP_ADDRESS).")
        List<HostPort> lookupd;

        boolean enabled() { return lookupd != null && !lookupd.isEmpty(); }
    }

    /** -v for debug logs, in every tool. */
    static final class Verbosity {
        @Option(names = {"-v", "--verbose"}, description = "Log debug details on stderr.")
        boolean verbose;
    }
}
