package nsq;

import java.time.Duration;
import java.util.function.Consumer;
import util.HostName;

/**
 * Everything one NSQ client connection is configured with (go-nsq's Config, nsq-j's Config):
 * timeouts, what IDENTIFY asks nsqd for, and where logs go. Immutable; start from
 * {@link #defaults()} and change fields with the {@code with...} methods. What nsqd answers to
 * IDENTIFY wins over what was asked ({@link Identify.Answer}).
 *
 * @param connectTimeout      TCP connect
 * @param handshakeTimeout    each read of the handshake (magic, IDENTIFY, upgrades). Silence there is an outage, not a
 *                            wrong peer (a stopped nsqd takes connections in its kernel and answers once it runs
 *                            again), so the wait is as long as a retry's backoff (5s): a retry loop is then nearly
 *                            always waiting on a connection that nsqd answers the moment it resumes
 * @param heartbeatInterval   asked of nsqd; null: nsqd's default (30s); ZERO: no heartbeats (an idle publisher)
 * @param msgTimeout          asked of nsqd for this connection's messages; null: nsqd's --msg-timeout
 * @param maxFrameSize        the largest frame accepted once identified (nsqd's --max-msg-size plus a little)
 * @param tls                 null: plain TCP; else TLS after IDENTIFY, which nsqd must grant
 * @param authSecret          sent with AUTH when nsqd requires it (its --auth-http-address); null: none
 * @param compression         null: none; snappy or deflate when nsqd grants it (it may not)
 * @param outputBufferSize    bytes nsqd may buffer before writing to us; null: nsqd's (16 KiB)
 * @param outputBufferTimeout how long nsqd may hold buffered messages; null: 25 ms (Identify.OUTPUT_BUFFER_TIMEOUT_MS);
 * ZERO: nsqd writes each at once
 * @param writeTimeout        how long one write may block (nsqd stopped reading: stopped, or its link is full) before
 *                            the connection is closed (go-nsq's WriteTimeout; see {@link WriteDeadlines}). 10 s,
 *                            as long as a publisher waits for nsqd's answer: a healthy nsqd reads all the time
 */
public record NsqConfig(Duration connectTimeout, Duration handshakeTimeout, Duration heartbeatInterval,
    Duration msgTimeout,
                        int maxFrameSize, String clientId, String hostname, String userAgent, NsqLogger logger,
                        Tls tls, String authSecret, Compression compression, Integer outputBufferSize,
                        Duration outputBufferTimeout, Duration writeTimeout) {

    /** nsqd's frames before IDENTIFY is done are short answers (OK, a JSON object, an error). */
    public static final int HANDSHAKE_FRAME_LIMIT = 64 * 1024;

    public static NsqConfig defaults() {
        return new NsqConfig(Duration.ofSeconds(3), Duration.ofSeconds(5), null, null, 256 << 20,
            "mqueue-" + ProcessHandle.current().pid(), HostName.get(), "mqueue/1.0", NsqLogger.STDERR,
            null, null, null, null, null, Duration.ofSeconds(10));
    }

    public NsqConfig withConnectTimeout(Duration d) { return with(b -> b.connectTimeout = d); }
    public NsqConfig withHandshakeTimeout(Duration d) { return with(b -> b.handshakeTimeout = d); }
    public NsqConfig withHeartbeatInterval(Duration d) { return with(b -> b.heartbeatInterval = d); }
    public NsqConfig withMsgTimeout(Duration d) { return with(b -> b.msgTimeout = d); }
    public NsqConfig withMaxFrameSize(int bytes) { return with(b -> b.maxFrameSize = bytes); }
    public NsqConfig withLogger(NsqLogger l) { return with(b -> b.logger = l); }
    public NsqConfig withTls(Tls t) { return with(b -> b.tls = t); }
    public NsqConfig withAuthSecret(String s) { return with(b -> b.authSecret = s); }
    public NsqConfig withCompression(Compression c) { return with(b -> b.compression = c); }
    public NsqConfig withWriteTimeout(Duration d) { return with(b -> b.writeTimeout = d); }

    /**
     * nsqd's output buffering for this connection: {@code size} bytes (null: nsqd's), held up to {@code timeout} (ZERO:
     * off).
     */
    public NsqConfig withOutputBuffer(Integer size, Duration timeout) {
        return with(b -> {
            b.outputBufferSize = size;
            b.outputBufferTimeout = timeout;
        });
    }

    /**
     * How long a subscribed connection may stay silent: two missed heartbeats and a margin. Added, not
     * multipliedBy(2): that goes through BigDecimal, whose first use cost a cold start ~10 ms (issue 24).
     */
    public Duration readTimeout() {
        Duration hb = heartbeatInterval == null ? Duration.ofSeconds(30) : heartbeatInterval;
        return hb.isZero() ? Duration.ZERO : hb.plus(hb).plusSeconds(5);
    }

    /** Never prints the secret (a record's own toString would). */
    @Override
    public String toString() {
        return "NsqConfig[connectTimeout=" + connectTimeout + ", heartbeatInterval=" + heartbeatInterval
            + ", msgTimeout=" + msgTimeout
            + ", tls=" + tls + ", authSecret=" + (authSecret == null ? "none" : "(set)") + ", compression="
            + compression
            + ", outputBuffer=" + outputBufferSize + "/" + outputBufferTimeout + ", writeTimeout=" + writeTimeout
            + ", clientId=" + clientId + "]";
    }

    private NsqConfig with(Consumer<Fields> change) {
        Fields f = new Fields(this);
        change.accept(f);
        return new NsqConfig(f.connectTimeout, f.handshakeTimeout, f.heartbeatInterval, f.msgTimeout, f.maxFrameSize,
            f.clientId,
            f.hostname, f.userAgent, f.logger, f.tls, f.authSecret, f.compression, f.outputBufferSize,
            f.outputBufferTimeout, f.writeTimeout);
    }

    /** A mutable copy, for the withers. */
    private static final class Fields {
        Duration connectTimeout, handshakeTimeout, heartbeatInterval, msgTimeout, outputBufferTimeout, writeTimeout;
        int maxFrameSize;
        String clientId, hostname, userAgent, authSecret;
        NsqLogger logger;
        Tls tls;
        Compression compression;
        Integer outputBufferSize;

        Fields(NsqConfig c) {
            connectTimeout = c.connectTimeout;
            handshakeTimeout = c.handshakeTimeout;
            heartbeatInterval = c.heartbeatInterval;
            msgTimeout = c.msgTimeout;
            maxFrameSize = c.maxFrameSize;
            clientId = c.clientId;
            hostname = c.hostname;
            userAgent = c.userAgent;
            logger = c.logger;
            tls = c.tls;
            authSecret = c.authSecret;
            compression = c.compression;
            outputBufferSize = c.outputBufferSize;
            outputBufferTimeout = c.outputBufferTimeout;
            writeTimeout = c.writeTimeout;
        }
    }
}
