import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.DatagramChannel;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * A statsd stand-in on loopback: keeps every datagram it receives, and reads the lines back as a
 * statsd would (counters summed, timers' samples counted with their rates). Its reader thread is
 * the only one that receives; tests read the copy-on-write list. Close it after the test.
 */
final class StatsdListener implements AutoCloseable {
    private final DatagramChannel channel;
    private final List<String> datagrams = new CopyOnWriteArrayList<>();
    private final Thread reader;
    private volatile IOException failed;

    StatsdListener() throws IOException {
        channel = DatagramChannel.open(StandardProtocolFamily.INET).bind(new InetSocketAddress("127.0.0.1", 0));
        reader = new Thread(this::read, "statsd-listener");
        reader.setDaemon(true);
        reader.start();
    }

    /** "127.0.0.1:PORT", for --statsd-address. */
    String address() throws IOException { return "127.0.0.1:" + socketAddress().getPort(); }

    InetSocketAddress socketAddress() throws IOException { return (InetSocketAddress) channel.getLocalAddress(); }

    /** A loopback UDP port nothing listens on (bound a moment ago): datagrams there come back port unreachable. */
    static InetSocketAddress nobody() throws IOException {
        try (DatagramChannel probe = DatagramChannel.open(StandardProtocolFamily.INET)) {
            return (InetSocketAddress) probe.bind(new InetSocketAddress("127.0.0.1", 0)).getLocalAddress();
        }
    }

    private void read() {
        ByteBuffer buf = ByteBuffer.allocate(65536); // larger than any datagram, so an oversized one is seen as such
        try {
            while (true) {
                buf.clear();
                channel.receive(buf);
                buf.flip();
                datagrams.add(StandardCharsets.UTF_8.decode(buf).toString());
            }
        } catch (ClosedChannelException closed) {
            // close(): the end of the test
        } catch (IOException e) {
            failed = e;
        }
    }

    /** Every datagram as it came, in order. */
    List<String> datagrams() {
        if (failed != null) throw new AssertionError("the statsd listener failed", failed);
        return datagrams;
    }

    /** Every line of every datagram. */
    List<String> lines() {
        List<String> out = new ArrayList<>();
        for (String d : datagrams()) out.addAll(Arrays.asList(d.split("\n")));
        return out;
    }

    /** The lines for {@code name} of {@code type} ("c", "g", "ms"): "value" or "value|@rate". */
    List<String> values(String name, String type) {
        List<String> out = new ArrayList<>();
        for (String l : lines()) {
            if (!l.startsWith(name + ":")) continue;
            String rest = l.substring(name.length() + 1);
            String[] parts = rest.split("\\|");
            if (parts.length < 2 || !parts[1].equals(type)) continue;
            out.add(parts.length > 2 ? parts[0] + "|" + parts[2] : parts[0]);
        }
        return out;
    }

    /** A counter as statsd adds it up: the sum of its deltas. */
    long sum(String name) { return values(name, "c").stream().mapToLong(Long::parseLong).sum(); }

    /** A timer's samples as statsd counts them: each line 1/rate samples. */
    double samples(String name) {
        double n = 0;
        for (String v : values(name, "ms")) {
            int rate = v.indexOf("|@");
            n += rate < 0 ? 1 : 1 / Double.parseDouble(v.substring(rate + 2));
        }
        return n;
    }

    @Override
    public void close() throws Exception {
        channel.close();
        reader.join(5_000);
    }
}
