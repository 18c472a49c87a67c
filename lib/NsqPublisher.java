import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.Closeable;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;

/**
 * One publishing connection to one nsqd over NSQ's TCP protocol (PUB, MPUB, DPUB), each call
 * returning only after nsqd's OK. Written here rather than using nsq-j's Publisher because that
 * one sleeps 10 s holding its lock on any failure and, without TCP_NODELAY, stalls ~40 ms per
 * MPUB batch over 8 KiB. Not thread-safe: one per publishing thread.
 */
final class NsqPublisher implements Closeable {
    private static final byte[] MAGIC = "  V2".getBytes(StandardCharsets.US_ASCII);
    private static final int FRAME_RESPONSE = 0, FRAME_ERROR = 1;

    private final HostPort address;
    private final Socket socket;
    private final DataInputStream in;
    private final DataOutputStream out;

    /** nsqd answered a command with an error frame ("E_BAD_MESSAGE PUB message too big 2 > 1"). */
    static final class NsqError extends IOException {
        final String code;

        NsqError(HostPort from, String frame) {
            super("nsqd " + from + ": " + frame);
            int space = frame.indexOf(' ');
            this.code = space < 0 ? frame : frame.substring(0, space);
        }
    }

    NsqPublisher(HostPort address, Duration timeout) throws IOException {
        this.address = address;
        this.socket = new Socket();
        try {
            socket.setTcpNoDelay(true);
            socket.connect(new InetSocketAddress(address.host(), address.port()), (int) timeout.toMillis());
            socket.setSoTimeout((int) timeout.toMillis());
            in = new DataInputStream(new BufferedInputStream(socket.getInputStream(), 16 * 1024));
            out = new DataOutputStream(new BufferedOutputStream(socket.getOutputStream(), 64 * 1024));
            out.write(MAGIC);
            identify();
        } catch (IOException e) {
            socket.close();
            throw new IOException("cannot connect to nsqd " + address + ": " + Cli.describe(e), e);
        }
    }

    HostPort address() { return address; }

    /** Heartbeats off: a publisher may sit idle on stdin, and it only ever reads right after a command. */
    private void identify() throws IOException {
        byte[] body = NsqHttp.JSON.writeValueAsBytes(Map.of(
            "client_id", "mqueue-" + ProcessHandle.current().pid(),
            "hostname", hostname(),
            "user_agent", "mqueue/1.0",
            "heartbeat_interval", -1,
            "feature_negotiation", true));
        out.write("IDENTIFY\n".getBytes(StandardCharsets.US_ASCII));
        out.writeInt(body.length);
        out.write(body);
        out.flush();
        readResponse();
    }

    void publish(String topic, byte[] body) throws IOException {
        roundTrip(() -> {
            command("PUB " + topic + "\n");
            out.writeInt(body.length);
            out.write(body);
        });
    }

    /** MPUB: all or nothing, one OK for the batch. */
    void publish(String topic, List<byte[]> bodies) throws IOException {
        long size = 4;
        for (byte[] b : bodies) size += 4 + b.length;
        if (size > Integer.MAX_VALUE) throw new IOException("MPUB batch of " + size + " bytes is too large");
        int bodySize = (int) size;
        roundTrip(() -> {
            command("MPUB " + topic + "\n");
            out.writeInt(bodySize);
            out.writeInt(bodies.size());
            for (byte[] b : bodies) {
                out.writeInt(b.length);
                out.write(b);
            }
        });
    }

    /** DPUB: delivered after {@code defer}; nsqd refuses more than its --max-req-timeout. */
    void publishDeferred(String topic, Duration defer, byte[] body) throws IOException {
        roundTrip(() -> {
            command("DPUB " + topic + " " + defer.toMillis() + "\n");
            out.writeInt(body.length);
            out.write(body);
        });
    }

    private interface Write { void run() throws IOException; }

    /** Writes a command and reads its answer. nsqd rejects a bad header (a body over --max-msg-size)
     *  with an error frame and closes before reading the body, so a failed write still reads that frame. */
    private void roundTrip(Write write) throws IOException {
        try {
            write.run();
            out.flush();
        } catch (IOException writeFailed) {
            try {
                readResponse();
            } catch (NsqError rejected) {
                rejected.addSuppressed(writeFailed);
                throw rejected;
            } catch (IOException noAnswer) {
                writeFailed.addSuppressed(noAnswer);
            }
            throw writeFailed;
        }
        readResponse();
    }

    private void command(String line) throws IOException {
        out.write(line.getBytes(StandardCharsets.US_ASCII));
    }

    private void readResponse() throws IOException {
        while (true) {
            int size;
            try {
                size = in.readInt();
            } catch (EOFException e) {
                throw new EOFException("nsqd " + address + " closed the connection");
            }
            int type = in.readInt();
            byte[] data = new byte[size - 4];
            in.readFully(data);
            String text = new String(data, StandardCharsets.UTF_8);
            if (type == FRAME_ERROR) throw new NsqError(address, text);
            if (type != FRAME_RESPONSE) throw new IOException("nsqd " + address + " sent unexpected frame type " + type);
            if (text.equals("_heartbeat_")) {
                command("NOP\n");
                out.flush();
                continue;
            }
            return; // "OK", or IDENTIFY's JSON
        }
    }

    /** This host's name as nsqd shows it (HOSTNAME, else the resolver's answer). */
    static String hostname() {
        String h = System.getenv("HOSTNAME");
        if (h != null && !h.isBlank()) return h;
        try {
            return java.net.InetAddress.getLocalHost().getHostName();
        } catch (IOException e) {
            Log.debug("no hostname (%s); nsqd will show 'localhost'", e.getMessage());
            return "localhost";
        }
    }

    @Override
    public void close() throws IOException {
        try {
            if (!socket.isClosed()) {
                command("CLS\n");
                out.flush();
            }
        } catch (IOException e) {
            Log.debug("nsqd %s: CLS not sent (%s); closing anyway", address, e.getMessage());
        } finally {
            socket.close();
        }
    }
}
