import java.io.Closeable;
import java.io.DataOutputStream;
import java.io.IOException;
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
    private final HostPort address;
    private final NsqConnection conn;
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

    /** Heartbeats off: a publisher may sit idle on stdin, and it only ever reads right after a command. */
    NsqPublisher(HostPort address, Duration timeout) throws IOException {
        this.address = address;
        this.conn = new NsqConnection(address, timeout, timeout, Map.of("heartbeat_interval", -1));
        this.out = conn.out();
    }

    HostPort address() { return address; }

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
        synchronized (conn.writeLock()) {
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
        }
        readResponse();
    }

    private void command(String line) throws IOException {
        out.write(line.getBytes(StandardCharsets.US_ASCII));
    }

    private void readResponse() throws IOException {
        while (true) {
            NsqConnection.Frame f = conn.readFrame();
            if (f.type() == NsqConnection.FRAME_ERROR) throw new NsqError(address, f.text());
            if (f.type() != NsqConnection.FRAME_RESPONSE) throw new IOException("nsqd " + address + " sent unexpected frame type " + f.type());
            if (f.text().equals(NsqConnection.HEARTBEAT)) {
                conn.send("NOP\n");
                continue;
            }
            return; // "OK"
        }
    }

    @Override
    public void close() throws IOException {
        try {
            if (!conn.isClosed()) conn.send("CLS\n");
        } catch (IOException e) {
            Log.debug("nsqd %s: CLS not sent (%s); closing anyway", address, e.getMessage());
        } finally {
            conn.close();
        }
    }
}
