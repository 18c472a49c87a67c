package produce;

import cli.Cli;
import cli.Log;
import java.io.IOException;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import nsq.HostPort;
import nsq.Tls;
import nsq.http.NsqHttp;
import util.Errors;

/**
 * producer --groups: the stream's topic and the named groups' channels, created on every nsqd before
 * the first message. nsqd gives a channel only the messages published after it exists (a topic
 * without channels hands its backlog to the first one), so groups created here get everything.
 * The HTTP addresses must be the same nsqd as the TCP ones, checked with /info before anything is
 * created: the default 127.0.0.1:4151 next to another --nsqd would otherwise make the groups on an
 * nsqd that never sees the messages. With TLS options every request may go over HTTPS: nsqd with
 * --tls-required=true refuses plain HTTP and names its HTTPS port, which {@link NsqHttp} follows.
 */
public final class GroupSetup {
    private static final Duration TIMEOUT = Duration.ofSeconds(5);

    private GroupSetup() {}

    /**
     * Creates {@code stream} and its {@code groups} on every nsqd; {@code http} and {@code tcp} name the same nodes.
     * {@code tls}: the tool's TLS settings (null: none), used when nsqd wants HTTPS.
     */
    public static void create(List<HostPort> http, List<HostPort> tcp, String stream, List<String> groups,
            Tls tls) throws IOException {
        List<NsqHttp> nodes = new ArrayList<>();
        for (HostPort h : http) nodes.add(new NsqHttp(h, TIMEOUT, tls));
        List<HostPort> served = new ArrayList<>(); // each HTTP address's host with the TCP port its nsqd reports
        for (NsqHttp node : nodes) {
            HostPort h = node.address();
            try {
                served.add(new HostPort(h.host(), node.info().tcpPort()));
            } catch (IOException e) {
                throw new IOException("--groups: cannot ask nsqd " + h + " (--nsqd-http) for its /info: "
                    + Errors.oneLine(e), e);
            }
        }
        for (HostPort t : tcp) {
            Cli.require(served.stream().anyMatch(s -> same(s, t)),
                "--groups: no --nsqd-http %s is nsqd %s (they serve TCP %s): "
                + "give each --nsqd's HTTP address, and only those (env NSQD_HTTP_ADDRESS)", http, t, served);
        }
        for (int i = 0; i < http.size(); i++) {
            HostPort s = served.get(i);
            Cli.require(tcp.stream().anyMatch(t -> same(s, t)),
                "--groups: --nsqd-http %s is nsqd %s, which no --nsqd %s names: "
                + "give each --nsqd's HTTP address, and only those (env NSQD_HTTP_ADDRESS)", http.get(i), s, tcp);
        }
        for (NsqHttp node : nodes) {
            node.createTopic(stream);
            for (String g : groups) node.createChannel(stream, g);
            Log.info("nsqd %s: stream '%s' has group(s) %s", node.address(), stream, String.join(", ", groups));
        }
    }

    /** Same port, and the hosts are one name or resolve to a common address (localhost is 127.0.0.1). */
    private static boolean same(HostPort a, HostPort b) {
        if (a.port() != b.port()) return false;
        if (a.host().equalsIgnoreCase(b.host())) return true;
        try {
            List<InetAddress> x = Arrays.asList(InetAddress.getAllByName(a.host()));
            return Arrays.stream(InetAddress.getAllByName(b.host())).anyMatch(x::contains);
        } catch (UnknownHostException e) {
            return false;
        }
    }
}
