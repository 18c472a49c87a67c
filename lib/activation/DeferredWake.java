package activation;

import java.nio.charset.StandardCharsets;

/**
 * The note a socket-activated consumer leaves for the wakeup when it requeues a message with a
 * delay it may not outlive: the wake line {@code wake <stream> <group>} published with DPUB to
 * {@link #TOPIC} on the nsqd that holds the message, deferred until shortly before the message
 * comes due. nsqd keeps the time, so nothing runs while the message waits; the wakeup's channel on
 * that topic receives the note when it comes due and the wakeup wakes the group. Both sides speak it
 * here, as they speak {@link WakeSocket}'s line.
 *
 * <p>Ephemeral: the topic lives in nsqd's memory only and goes with the wakeup's channel; notes left
 * while no wakeup listens wait in the topic (up to nsqd's --mem-queue-size) for the next one.
 */
public final class DeferredWake {
    public static final String TOPIC = "mqueue-deferred-wakes#ephemeral";

    private DeferredWake() {}

    public static byte[] body(WakeSocket.Wake wake) { return wake.line().getBytes(StandardCharsets.US_ASCII); }

    /** The wake a note asks for; null when the body is anything else. */
    public static WakeSocket.Wake parse(byte[] body) {
        if (body.length > WakeSocket.MAX_LINE) return null;
        return WakeSocket.parse(new String(body, StandardCharsets.US_ASCII));
    }
}
