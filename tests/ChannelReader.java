import java.io.BufferedInputStream;
import java.io.Closeable;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * Test helper: reads a channel over NSQ's TCP protocol (SUB, RDY, FIN) so a test sees exactly
 * what nsqd delivers, independent of consumer.java. A background thread receives and FINs;
 * tests take what arrived, each stamped with its arrival time.
 */
final class ChannelReader implements Closeable {
    record Message(byte[] body, long arrivedNanos, int attempts) {
        String text() { return new String(body, StandardCharsets.UTF_8); }
    }

    private final Socket socket = new Socket();
    private final DataOutputStream out;
    private final LinkedBlockingQueue<Message> arrived = new LinkedBlockingQueue<>();
    private final Thread reader;
    private volatile IOException failed;

    ChannelReader(HostPort nsqd, String topic, String channel) throws IOException {
        socket.setTcpNoDelay(true);
        socket.connect(new InetSocketAddress(nsqd.host(), nsqd.port()), 5000);
        DataInputStream in = new DataInputStream(new BufferedInputStream(socket.getInputStream()));
        out = new DataOutputStream(socket.getOutputStream());
        out.write("  V2".getBytes(StandardCharsets.US_ASCII));
        send("SUB " + topic + " " + channel + "\n");
        String ok = readFrame(in).text();
        if (!ok.equals("OK")) throw new IOException("SUB " + topic + " " + channel + ": " + ok);
        send("RDY 2500\n");
        reader = new Thread(() -> {
            try {
                while (true) {
                    Message m = handle(readFrame(in));
                    if (m != null) arrived.add(m);
                }
            } catch (IOException e) {
                if (!socket.isClosed()) failed = e;
            }
        }, "channel-reader");
        reader.setDaemon(true);
        reader.start();
    }

    /** The next {@code n} messages, failing if they do not all arrive within {@code timeout}. */
    List<Message> take(int n, Duration timeout) throws InterruptedException {
        List<Message> got = new ArrayList<>();
        long deadline = System.nanoTime() + timeout.toNanos();
        while (got.size() < n) {
            Message m = arrived.poll(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
            if (m == null) {
                throw new AssertionError("got " + got.size() + " of " + n + " messages within " + timeout.toMillis()
                    + " ms" + (failed == null ? "" : " (reader failed: " + failed + ")"));
            }
            got.add(m);
        }
        return got;
    }

    /** Whatever arrives within {@code wait} (for checking that nothing more comes). */
    List<Message> poll(Duration wait) throws InterruptedException {
        List<Message> got = new ArrayList<>();
        Message m = arrived.poll(wait.toMillis(), TimeUnit.MILLISECONDS);
        while (m != null) {
            got.add(m);
            m = arrived.poll();
        }
        return got;
    }

    private record Frame(int type, byte[] data) {
        String text() { return new String(data, StandardCharsets.UTF_8); }
    }

    private static Frame readFrame(DataInputStream in) throws IOException {
        int size = in.readInt();
        int type = in.readInt();
        byte[] data = new byte[size - 4];
        in.readFully(data);
        if (type == 1) throw new IOException("nsqd error: " + new String(data, StandardCharsets.UTF_8));
        return new Frame(type, data);
    }

    /** Answers heartbeats; FINs a message at once and returns it (null for other frames). */
    private Message handle(Frame f) throws IOException {
        if (f.type() != 2) {
            if (f.text().equals("_heartbeat_")) send("NOP\n");
            return null;
        }
        // message: 8-byte timestamp, 2-byte attempts, 16-byte id, body
        byte[] data = f.data();
        int attempts = ((data[8] & 0xff) << 8) | (data[9] & 0xff);
        String id = new String(data, 10, 16, StandardCharsets.US_ASCII);
        byte[] body = new byte[data.length - 26];
        System.arraycopy(data, 26, body, 0, body.length);
        send("FIN " + id + "\n");
        return new Message(body, System.nanoTime(), attempts);
    }

    private synchronized void send(String command) throws IOException {
        out.write(command.getBytes(StandardCharsets.US_ASCII));
        out.flush();
    }

    @Override
    public void close() throws IOException {
        socket.close();
    }
}
