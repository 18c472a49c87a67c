import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import nsq.HostPort;

/**
 * A TCP peer that is not nsqd, for what nsqd never sends: it accepts every connection and answers
 * with fixed bytes (or nothing), then keeps the connection open until closed. Never a stand-in for
 * nsqd's behaviour; only for garbage, silence and impossible frames.
 */
final class FakePeer implements AutoCloseable {
    private final ServerSocket server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
    private final List<Socket> clients = new CopyOnWriteArrayList<>();

    /** Accepts and says nothing, ever. */
    static FakePeer silent() throws IOException { return new FakePeer(new byte[0]); }

    /** Answers every connection with these bytes. */
    static FakePeer answering(byte[] bytes) throws IOException { return new FakePeer(bytes); }

    /** A valid IDENTIFY answer, then a frame claiming {@code size} bytes that never come. */
    static FakePeer hugeFrameAfterIdentify(int size) throws IOException {
        byte[] ok = "OK".getBytes(StandardCharsets.US_ASCII);
        ByteBuffer b = ByteBuffer.allocate(8 + ok.length + 8);
        b.putInt(4 + ok.length).putInt(0).put(ok); // response "OK": identified without feature negotiation
        b.putInt(size).putInt(2);                  // a "message" frame of `size` bytes
        return new FakePeer(b.array());
    }

    private FakePeer(byte[] answer) throws IOException {
        Thread t = new Thread(() -> {
            while (!server.isClosed()) {
                try {
                    Socket s = server.accept();
                    clients.add(s);
                    OutputStream out = s.getOutputStream();
                    out.write(answer);
                    out.flush();
                } catch (IOException closed) {
                    return;
                }
            }
        }, "fake-peer");
        t.setDaemon(true);
        t.start();
    }

    HostPort address() { return new HostPort("127.0.0.1", server.getLocalPort()); }

    /** Connections accepted so far. */
    int connections() { return clients.size(); }

    @Override
    public void close() throws IOException {
        server.close();
        for (Socket s : clients) s.close();
    }
}
