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
    private final ServerSocket server;
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

    /**
     * Looks like nsqd (IDENTIFY and SUB answered OK) and never reads a byte: what a SIGSTOPped nsqd or a full link does
     * to our writes. Its receive buffer is as small as Linux allows, so our writes back up at once. With
     * {@code messages}, it also streams message frames (ids counting up, body "x") for as long as the connection
     * lasts, which nsqd never does past RDY: a subscriber's FINs then pile up unread. Without, it streams nothing
     * (a publisher's view).
     */
    static FakePeer deafNsqd(boolean messages) throws IOException {
        return new FakePeer(s -> {
            OutputStream out = s.getOutputStream();
            out.write(okFrame());
            out.write(okFrame()); // SUB, or a publisher's first command: never read, answered anyway
            out.flush();
            for (long id = 0; messages; id++) out.write(messageFrame(id)); // until the socket goes
        }, 4096);
    }

    private static byte[] okFrame() {
        return ByteBuffer.allocate(10).putInt(6).putInt(0).put("OK".getBytes(StandardCharsets.US_ASCII)).array();
    }

    private static byte[] messageFrame(long id) {
        byte[] hex = String.format("%016x", id).getBytes(StandardCharsets.US_ASCII);
        ByteBuffer b = ByteBuffer.allocate(8 + 26 + 1);
        b.putInt(4 + 26 + 1).putInt(2).putLong(System.nanoTime()).putShort((short) 1).put(hex).put((byte) 'x');
        return b.array();
    }

    /** What it does with each accepted connection, on a thread of its own. */
    private interface Script { void run(Socket s) throws IOException; }

    private FakePeer(Script script, int receiveBuffer) throws IOException {
        server = new ServerSocket();
        server.setReceiveBufferSize(receiveBuffer); // inherited by accepted sockets; set before bind to count
        server.bind(new java.net.InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 50);
        Thread t = new Thread(() -> {
            while (!server.isClosed()) {
                try {
                    Socket s = server.accept();
                    clients.add(s);
                    Thread c = new Thread(() -> {
                        try {
                            script.run(s);
                        } catch (IOException closed) {
                            // the client dropped us, or close(): this connection's script is over
                        }
                    }, "fake-peer-conn");
                    c.setDaemon(true);
                    c.start();
                } catch (IOException closed) {
                    return;
                }
            }
        }, "fake-peer");
        t.setDaemon(true);
        t.start();
    }

    private FakePeer(byte[] answer) throws IOException {
        server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
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
