package nsq.publish;

import java.io.Closeable;
import java.io.IOException;
import java.time.Duration;
import java.util.List;
import nsq.Batch;
import nsq.Command;
import nsq.Connection;
import nsq.Frame;
import nsq.HostPort;
import nsq.NsqConfig;
import nsq.NsqException;

/**
 * One publishing connection to one nsqd (PUB, MPUB, DPUB), each call returning only after
 * nsqd's OK. Written here rather than using nsq-j's Publisher because that one sleeps 10 s holding
 * its lock on any failure and, without TCP_NODELAY, stalls ~40 ms per MPUB batch over 8 KiB.
 * Heartbeats are off: a publisher may sit idle (on stdin) and reads only right after a command.
 * Closing sends no CLS: nsqd answers CLS on a connection that never subscribed with E_INVALID.
 * Not thread-safe: one per publishing thread. A write nsqd does not take within the write timeout
 * ({@link NsqConfig#writeTimeout}) closes the connection and fails the call (transient).
 */
public final class Publisher implements Closeable {
    /** How long nsqd may take to answer one command (it answers once the messages are queued). */
    public static final Duration RESPONSE_TIMEOUT = Duration.ofSeconds(10);

    private final Connection conn;

    public Publisher(HostPort address, NsqConfig config) throws IOException {
        this.conn = Connection.open(address, config.withHeartbeatInterval(Duration.ZERO));
        conn.setReadTimeout(RESPONSE_TIMEOUT);
    }

    public HostPort address() { return conn.address(); }

    public void publish(String topic, byte[] body) throws IOException {
        roundTrip(out -> Command.pub(out, topic, body));
    }

    /** MPUB: all or nothing, one OK for the batch. */
    public void publish(String topic, List<byte[]> bodies) throws IOException {
        publish(topic, Batch.of(bodies));
    }

    /** MPUB of a batch written as it goes out. */
    public void publish(String topic, Batch batch) throws IOException {
        roundTrip(out -> Command.mpub(out, topic, batch));
    }

    /** DPUB: delivered after {@code defer}; nsqd refuses more than its --max-req-timeout. */
    public void publishDeferred(String topic, Duration defer, byte[] body) throws IOException {
        roundTrip(out -> Command.dpub(out, topic, defer.toMillis(), body));
    }

    /**
     * Writes a command and reads its answer. nsqd rejects a bad header (a body over --max-msg-size)
     * with an error frame and closes before reading the body, so a failed write still reads that frame.
     */
    private void roundTrip(Connection.Body command) throws IOException {
        try {
            conn.write(command);
        } catch (IOException writeFailed) {
            try {
                readAnswer();
            } catch (NsqException.ErrorResponse rejected) {
                rejected.addSuppressed(writeFailed);
                throw rejected;
            } catch (IOException noAnswer) {
                writeFailed.addSuppressed(noAnswer);
            }
            throw writeFailed;
        }
        readAnswer();
    }

    private void readAnswer() throws IOException {
        Frame f = conn.next();
        if (f.type() == Frame.ERROR) throw new NsqException.ErrorResponse(conn.address(), f.text());
        if (f.type() != Frame.RESPONSE) throw new NsqException.NotNsqd(conn.address(),
            "it sent a message to a publisher");
    }

    @Override
    public void close() { conn.close(); }
}
