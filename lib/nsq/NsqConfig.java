package nsq;

import java.time.Duration;

/**
 * Everything one NSQ client connection is configured with (go-nsq's Config, nsq-j's Config):
 * timeouts, what IDENTIFY asks nsqd for, and where logs go. Immutable; start from
 * {@link #defaults()} and change fields with the {@code with...} methods. What nsqd answers to
 * IDENTIFY wins over what was asked ({@link Identify.Answer}).
 *
 * @param connectTimeout    TCP connect
 * @param handshakeTimeout  each read of the handshake (magic, IDENTIFY, AUTH): nsqd answers at once, so silence
 *                          this long means the peer is not nsqd
 * @param heartbeatInterval asked of nsqd; null: nsqd's default (30s); ZERO: no heartbeats (an idle publisher)
 * @param msgTimeout        asked of nsqd for this connection's messages; null: nsqd's --msg-timeout
 * @param maxFrameSize      the largest frame accepted once identified (nsqd's --max-msg-size plus a little)
 */
public record NsqConfig(Duration connectTimeout, Duration handshakeTimeout, Duration heartbeatInterval, Duration msgTimeout,
                        int maxFrameSize, String clientId, String hostname, String userAgent, NsqLogger logger) {

    /** nsqd's frames before IDENTIFY is done are short answers (OK, a JSON object, an error). */
    public static final int HANDSHAKE_FRAME_LIMIT = 64 * 1024;

    public static NsqConfig defaults() {
        return new NsqConfig(Duration.ofSeconds(3), Duration.ofSeconds(1), null, null, 256 << 20,
            "mqueue-" + ProcessHandle.current().pid(), Identify.hostname(), "mqueue/1.0", NsqLogger.STDERR);
    }

    public NsqConfig withConnectTimeout(Duration d) {
        return new NsqConfig(d, handshakeTimeout, heartbeatInterval, msgTimeout, maxFrameSize, clientId, hostname, userAgent, logger);
    }

    public NsqConfig withHandshakeTimeout(Duration d) {
        return new NsqConfig(connectTimeout, d, heartbeatInterval, msgTimeout, maxFrameSize, clientId, hostname, userAgent, logger);
    }

    public NsqConfig withHeartbeatInterval(Duration d) {
        return new NsqConfig(connectTimeout, handshakeTimeout, d, msgTimeout, maxFrameSize, clientId, hostname, userAgent, logger);
    }

    public NsqConfig withMsgTimeout(Duration d) {
        return new NsqConfig(connectTimeout, handshakeTimeout, heartbeatInterval, d, maxFrameSize, clientId, hostname, userAgent, logger);
    }

    public NsqConfig withMaxFrameSize(int bytes) {
        return new NsqConfig(connectTimeout, handshakeTimeout, heartbeatInterval, msgTimeout, bytes, clientId, hostname, userAgent, logger);
    }

    public NsqConfig withLogger(NsqLogger l) {
        return new NsqConfig(connectTimeout, handshakeTimeout, heartbeatInterval, msgTimeout, maxFrameSize, clientId, hostname, userAgent, l);
    }

    /** How long a subscribed connection may stay silent: two missed heartbeats and a margin. */
    public Duration readTimeout() {
        Duration hb = heartbeatInterval == null ? Duration.ofSeconds(30) : heartbeatInterval;
        return hb.isZero() ? Duration.ZERO : hb.multipliedBy(2).plusSeconds(5);
    }
}
