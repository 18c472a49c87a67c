import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import nsq.HostPort;

/**
 * A TCP proxy in front of nsqd for what nsqd never does by itself: a network partition (nothing
 * forwarded either way, new connections included, until it heals; then what waited goes through, as
 * TCP retransmits after a real one) and a connection that stops half-way through a frame and stays
 * open. nsqd's frames are forwarded whole, so a stall can be put inside one. Plain TCP only: it reads
 * nsqd's frames, so no TLS or compression through it.
 *
 * <p>Threads: an acceptor, and two pumps per connection (client to nsqd, nsqd to client). The gate
 * (partitioned or not) is this object's monitor; a connection's stall is its own flag.
 */
final class NsqProxy implements AutoCloseable {
    private static final int MESSAGE = 2;
    private final HostPort nsqd;
    private final ServerSocket server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
    private final List<Socket> sockets = new CopyOnWriteArrayList<>();
    private final AtomicInteger accepted = new AtomicInteger();
    private boolean partitioned, closed;     // guarded by this
    private int stallAtMessage, stallAfterBytes; // guarded by this; 0: no stall armed
    private volatile boolean stallHappened;

    NsqProxy(HostPort nsqd) throws IOException {
        this.nsqd = nsqd;
        daemon("nsq-proxy-accept", this::acceptLoop);
    }

    HostPort address() { return new HostPort("127.0.0.1", server.getLocalPort()); }

    /** Connections accepted so far. */
    int connections() { return accepted.get(); }

    /** Stops forwarding, both ways, on every connection, new ones included (they are accepted and wait). */
    synchronized void partition() { partitioned = true; }

    /** Forwards again: what waited goes through, connections made meanwhile reach nsqd. */
    synchronized void heal() {
        partitioned = false;
        notifyAll();
    }

    /**
     * The {@code nth} message frame nsqd sends from now (over every connection) is cut: its first {@code bytes} bytes
     * are forwarded, then nothing more on that connection, either way; it stays open until its client closes it.
     */
    synchronized void stallInsideMessage(int nth, int bytes) {
        stallAtMessage = nth;
        stallAfterBytes = bytes;
    }

    /** True once a connection has been stalled half-way through a frame. */
    boolean stallHappened() { return stallHappened; }

    private void acceptLoop() {
        while (true) {
            Socket client;
            try {
                client = server.accept();
            } catch (IOException closedServer) {
                return;
            }
            accepted.incrementAndGet();
            sockets.add(client);
            daemon("nsq-proxy-conn", () -> relay(client));
        }
    }

    /** Connects to nsqd once the gate is open (a partition holds new connections too), then pumps both ways. */
    private void relay(Socket client) {
        Conn c = new Conn(client);
        try {
            awaitGate();
            c.upstream = new Socket(nsqd.host(), nsqd.port());
            sockets.add(c.upstream);
            daemon("nsq-proxy-up", () -> pumpToNsqd(c));
            pumpToClient(c);
        } catch (IOException | InterruptedException ended) {
            c.close(); // one side went away or the proxy closed: so does the other side
        }
    }

    /**
     * Client bytes to nsqd. On a stalled connection they are read and dropped, so the client's close still reaches
     * nsqd.
     */
    private void pumpToNsqd(Conn c) {
        byte[] buf = new byte[64 * 1024];
        try (InputStream in = c.client.getInputStream(); OutputStream out = c.upstream.getOutputStream()) {
            for (int n; (n = in.read(buf)) >= 0; ) {
                awaitGate();
                if (c.stalled) continue;
                out.write(buf, 0, n);
                out.flush();
            }
        } catch (IOException | InterruptedException ended) {
            // the client or nsqd went away
        } finally {
            c.close();
        }
    }

    /** nsqd's frames to the client, whole, unless this is the frame to cut; after a cut, nothing more. */
    private void pumpToClient(Conn c) throws IOException, InterruptedException {
        DataInputStream in = new DataInputStream(c.upstream.getInputStream());
        OutputStream out = c.client.getOutputStream();
        while (true) {
            int size;
            try {
                size = in.readInt();
            } catch (EOFException nsqdClosed) {
                c.close();
                return;
            }
            int type = in.readInt();
            byte[] data = new byte[size - 4];
            in.readFully(data);
            byte[] frame = ByteBuffer.allocate(4 + size).putInt(size).putInt(type).put(data).array();
            awaitGate();
            int cut = type == MESSAGE ? cutAfter() : -1;
            if (cut < 0) {
                out.write(frame);
                out.flush();
                continue;
            }
            c.stalled = true;
            out.write(frame, 0, Math.min(cut, frame.length));
            out.flush();
            stallHappened = true;
            c.awaitClose(); // stays open, silent both ways, until the client (or the proxy) closes it
            return;
        }
    }

    /**
     * For a message frame about to go out: how many of its bytes to forward before stalling, or -1 to forward it all.
     */
    private synchronized int cutAfter() {
        if (stallAtMessage == 0) return -1;
        if (--stallAtMessage > 0) return -1;
        return stallAfterBytes;
    }

    private synchronized void awaitGate() throws InterruptedException {
        while (partitioned && !closed) wait();
    }

    @Override
    public void close() throws IOException {
        synchronized (this) {
            closed = true;
            notifyAll();
        }
        server.close();
        for (Socket s : sockets) s.close();
    }

    /** One proxied connection: the client's socket, nsqd's, and whether it was stalled. */
    private static final class Conn {
        final Socket client;
        volatile Socket upstream;
        volatile boolean stalled;
        private boolean closed; // guarded by this

        Conn(Socket client) { this.client = client; }

        synchronized void awaitClose() throws InterruptedException {
            while (!closed) wait();
        }

        void close() {
            synchronized (this) {
                closed = true;
                notifyAll();
            }
            closeQuietly(client);
            closeQuietly(upstream);
        }

        private static void closeQuietly(Socket s) {
            if (s == null) return;
            try {
                s.close();
            } catch (IOException e) {
                System.out.println("nsq-proxy: close failed: " + e); // nothing to do but say so
            }
        }
    }

    private static void daemon(String name, Runnable r) {
        Thread t = new Thread(r, name);
        t.setDaemon(true);
        t.start();
    }
}
