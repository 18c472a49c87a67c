package nsq.subscribe;

import java.time.Duration;
import nsq.NsqLogger;

/**
 * nsqd's E_FIN_FAILED, E_REQ_FAILED and E_TOUCH_FAILED: an answer for a message it no longer holds
 * for us. One is normal (the message timed out and went to another consumer). After an unclean nsqd
 * restart they come by the hundred, and that is nsqd, not us: its disk queue replays part of what
 * it had sent, so the same message id is delivered twice while the first copy is in flight; the
 * second FIN of that id is refused (measured: 800 of 800 refused ids had been delivered twice).
 * The message was handled either way. So the first is logged, then at most one line per
 * {@link #EVERY} with how many more, and the rest at close: a restart costs a few lines, not hundreds.
 */
final class StaleAnswers {
    static final Duration EVERY = Duration.ofSeconds(10);

    private final NsqLogger log;
    private long suppressed, lastLogNanos;
    private boolean any;

    StaleAnswers(NsqLogger log) { this.log = log; }

    synchronized void record(String nsqdAndText) {
        long now = System.nanoTime();
        if (any && now - lastLogNanos < EVERY.toNanos()) {
            suppressed++;
            return;
        }
        log.warn(nsqdAndText
            + " (nsqd no longer held that message for us: it had timed out and is redelivered, or nsqd delivered its "
            + "id twice after an unclean restart and the other copy was answered)" + more());
        any = true;
        lastLogNanos = now;
    }

    /** The count of those not logged yet, on close. */
    synchronized void flush() {
        if (suppressed > 0) log.warn(suppressed
            + " more answer(s) to messages nsqd no longer held (E_FIN_FAILED and friends), as above");
        suppressed = 0;
    }

    private String more() {
        if (suppressed == 0) return "";
        String s = "; " + suppressed + " more like it in the last " + (EVERY.toSeconds()) + "s";
        suppressed = 0;
        return s;
    }
}
