package nsq;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.Closeable;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.time.Duration;
import java.util.List;

/**
 * One TCP connection to nsqd speaking protocol V2 (go-nsq's conn.go): connects, sends the magic,
 * negotiates with IDENTIFY, then carries commands out and frames in. Heartbeats are answered here
 * and nowhere else. Writes are synchronized, so several threads may send; one thread reads.
 *
 * <p>Failures: a refused, reset or timed-out connection is a plain IOException (transient); a
 * peer that does not answer like nsqd, or an nsqd that refuses us, is a fatal {@link NsqException}.
 */
public final class Connection implements Closeable {
    private final HostPort address;
    private final NsqConfig config;
    private final Socket socket;
    private Input input;
    private DataInputStream in;
    private DataOutputStream out;
    private Identify.Answer answer;
    private int frameLimit = NsqConfig.HANDSHAKE_FRAME_LIMIT;

    private Connection(HostPort address, NsqConfig config) {
        this.address = address;
        this.config = config;
        this.socket = new Socket();
    }

    /** Connects and identifies; the returned connection is ready for SUB or PUB. */
    public static Connection open(HostPort address, NsqConfig config) throws IOException {
        Connection c = new Connection(address, config);
        try {
            c.connect();
            c.identify();
        } catch (IOException | RuntimeException e) {
            c.close();
            if (e instanceof NsqException) throw e;
            throw new IOException("cannot connect to nsqd " + address + ": " + NsqException.describe(e), e);
        }
        return c;
    }

    private void connect() throws IOException {
        socket.setTcpNoDelay(true);
        socket.connect(new InetSocketAddress(address.host(), address.port()), (int) config.connectTimeout().toMillis());
        socket.setSoTimeout((int) config.handshakeTimeout().toMillis());
        input = new Input(socket.getInputStream(), 64 * 1024);
        in = new DataInputStream(input);
        out = new DataOutputStream(new BufferedOutputStream(socket.getOutputStream(), 64 * 1024));
    }

    private void identify() throws IOException {
        out.write(Command.MAGIC_V2);
        out.write(Command.identify(Identify.json(Identify.fields(config))));
        out.flush();
        answer = Identify.Answer.parse(handshakeResponse("IDENTIFY").text());
        frameLimit = config.maxFrameSize();
        socket.setSoTimeout((int) config.readTimeout().toMillis());
    }

    /** The answer to a handshake command; silence there means the peer does not speak NSQ. */
    private Frame handshakeResponse(String command) throws IOException {
        Frame f;
        try {
            f = next();
        } catch (SocketTimeoutException e) {
            throw new NsqException.NotNsqd(address, "no answer to " + command + " within " + config.handshakeTimeout().toMillis() + " ms");
        }
        if (f.type() == Frame.ERROR) throw new NsqException.ErrorResponse(address, f.text());
        if (f.type() != Frame.RESPONSE) throw new NsqException.NotNsqd(address, "it sent a message before " + command + " was answered");
        return f;
    }

    public HostPort address() { return address; }

    public NsqConfig config() { return config; }

    /** What nsqd granted in its IDENTIFY answer. */
    public Identify.Answer negotiated() { return answer; }

    /** How long a blocked read may wait (ZERO: forever); publishers bound each answer, subscribers the heartbeat gap. */
    public void setReadTimeout(Duration timeout) throws IOException {
        socket.setSoTimeout((int) Math.min(Integer.MAX_VALUE, timeout.toMillis()));
    }

    /**
     * The next frame that is not a heartbeat (heartbeats are answered with NOP on the way).
     * Error frames are returned too: whether one is fatal is the caller's to decide.
     */
    public Frame next() throws IOException {
        while (true) {
            Frame f = Frame.read(in, frameLimit, address);
            if (!f.isHeartbeat()) return f;
            write(Command.NOP);
        }
    }

    /**
     * True when a frame can be read without waiting (buffered here or already received). Asks the
     * socket (a syscall) only once our buffer is empty: BufferedInputStream.available() asks it
     * every time, and a subscriber calls this before every frame.
     */
    public boolean hasBuffered() throws IOException { return input.buffered() > 0 || in.available() > 0; }

    /** The read buffer, which can tell what it holds without asking the socket. */
    private static final class Input extends BufferedInputStream {
        Input(java.io.InputStream in, int size) { super(in, size); }

        /** Only the reading thread calls this, and only it moves pos and count. */
        int buffered() { return count - pos; }
    }

    /** Writes one command and flushes. */
    public void write(byte[] command) throws IOException {
        synchronized (out) {
            out.write(command);
            out.flush();
        }
    }

    /** Writes several commands with one flush (one syscall for a batch of FINs). */
    public void write(List<byte[]> commands) throws IOException {
        synchronized (out) {
            for (byte[] c : commands) out.write(c);
            out.flush();
        }
    }

    /** A command streamed by {@code body} under the write lock, then flushed: PUB and MPUB bodies are never copied. */
    public void write(Body body) throws IOException {
        synchronized (out) {
            body.writeTo(out);
            out.flush();
        }
    }

    /** Streams one command into the connection's output. */
    @FunctionalInterface
    public interface Body {
        void writeTo(DataOutputStream out) throws IOException;
    }

    public boolean isClosed() { return socket.isClosed(); }

    /** Closes the socket; a subscriber that wants nsqd to requeue at once sends REQ and CLS first. */
    @Override
    public void close() {
        try {
            socket.close();
        } catch (IOException e) {
            config.logger().debug("nsqd " + address + ": close failed: " + e.getMessage());
        }
    }
}
