package cli;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.time.Duration;
import java.util.regex.Pattern;
import nsq.HostPort;
import picocli.CommandLine.Model.CommandSpec;
import util.Durations;
import util.Errors;
import util.HostName;
import util.Statsd;

/**
 * --statsd-address, --statsd-prefix and --statsd-interval, as nsqd names them, for every tool (a mixin).
 * The prefix's {@code %s} is this host's key as nsqd makes it (statsd.HostKey: '.' and ':' turned to
 * '_'), and a prefix gets a trailing '.' when it lacks one, as nsqd's does. The address is resolved
 * once, at start: an unknown host is bad input, not a metric lost every interval.
 * Declared in code ({@link DeclaredOptions}).
 */
public final class StatsdOptions implements DeclaredOptions {
    /** Long enough for any sensible path; with a 64-character stream and group a line stays far below a datagram. */
    static final int MAX_PREFIX = 200;
    static final Pattern PREFIX = Pattern.compile("[A-Za-z0-9_.-]*");
    static final String PREFIX_RULE = "letters, digits, '.', '_', '-' and %s (this host), at most " + MAX_PREFIX
        + " characters: statsd splits a line at ':', '|' and '@'";

    public HostPort address;
    public String prefix;
    public Duration interval;

    @Override
    public void declare(CommandSpec spec) {
        spec.addOption(DeclaredOptions.option(HostPort.class, v -> address = v, "--statsd-address")
            .paramLabel("HOST:PORT").defaultValue("${env:STATSD_ADDRESS}")
            .description("Send metrics to statsd at this UDP address every --statsd-interval, and once more on exit; "
                + "nothing is sent without it (env STATSD_ADDRESS).").build());
        spec.addOption(DeclaredOptions.option(String.class, v -> prefix = v, "--statsd-prefix").paramLabel("PREFIX")
            .defaultValue("${env:STATSD_PREFIX:-mqueue.%s}")
            .description("Before every metric name; %%s is this host's name with '.' turned to '_', as nsqd's nsq.%%s "
                + "(env STATSD_PREFIX, default mqueue.%%s).").build());
        spec.addOption(DeclaredOptions.option(Duration.class, v -> interval = v, "--statsd-interval")
            .paramLabel("DURATION").defaultValue("${env:STATSD_INTERVAL:-60s}")
            .description("Time between two sends of the metrics, as nsqd's default "
                + "(env STATSD_INTERVAL, default ${DEFAULT-VALUE}).").build());
    }

    private InetSocketAddress target; // once checked
    private String expanded;

    /** The rules the parser cannot check, and the one name lookup: exit 2 on either. Before anything is created. */
    public StatsdOptions check() {
        Converters.requireDuration("--statsd-interval", interval, Duration.ofMillis(100), Duration.ofHours(1), "");
        String p = prefix == null ? "" : prefix;
        Cli.require(p.length() <= MAX_PREFIX && PREFIX.matcher(p.replace("%s", "")).matches(), "--statsd-prefix %s: %s",
            Cli.quote(p), PREFIX_RULE);
        String host = hostKey(hostname());
        expanded = p.replace("%s", host);
        if (!expanded.isEmpty() && !expanded.endsWith(".")) expanded += ".";
        if (address != null) {
            try {
                target = new InetSocketAddress(InetAddress.getByName(address.host()), address.port());
            } catch (UnknownHostException e) {
                // Java's message is "host: why"; the why alone, the host is named already.
                String why = String.valueOf(e.getMessage()).replaceFirst("^\\Q" + address.host() + "\\E: ", "");
                throw new Cli.UsageException(String.format("--statsd-address %s: cannot resolve %s (%s): give a "
                    + "host name this machine resolves, or an IP address", Cli.quote(address),
                    Cli.quote(address.host()), why));
            }
        }
        return this;
    }

    /** The prefix as sent, '.' at its end (or "" for none); after {@link #check}. */
    public String expandedPrefix() { return expanded; }

    /** Starts sending (checked first if it was not); a client that only counts without --statsd-address. */
    public Statsd start() {
        if (expanded == null) check();
        if (target == null) return Statsd.off();
        try {
            Statsd s = Statsd.start(target, expanded, interval, w -> Log.warn("%s", w));
            Log.info("statsd: sending metrics to %s every %s as %s*", address, Durations.format(interval), expanded);
            return s;
        } catch (IOException e) {
            // No UDP socket at all (no IPv6 on this host for an IPv6 address...): the tool runs on without metrics.
            Log.warn("statsd: cannot send to %s: %s; running without metrics", address, Errors.oneLine(e));
            return Statsd.off();
        }
    }

    /** nsqd's statsd.HostKey: '.' and ':' turned to '_', so the host is one segment of the metric's path. */
    public static String hostKey(String host) {
        return host.replace('.', '_').replace(':', '_');
    }

    /** The host's name as the kernel has it (what nsqd's statsd.HostKey starts from); no DNS lookup. */
    static String hostname() {
        String name = HostName.get();
        return PREFIX.matcher(name).matches() ? name : "localhost";
    }
}
