import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import activation.DeferredWake;
import activation.WakeSocket;
import java.time.Duration;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import consume.DeferredWakes;

/** The consumer's notes to the wakeup: which requeues leave one, deferred how long, and what it says. No nsqd. */
@Tag("unit")
class DeferredWakesTest {
    static final Duration IDLE = Duration.ofSeconds(30), LEAD = Duration.ofSeconds(1);

    @Test void aDelayTheRunOutlivesLeavesNoNote() {
        assertNull(DeferredWakes.noteDelay(Duration.ofSeconds(8), IDLE, LEAD),
            "the consumer still runs 30 s after a failure");
        assertNull(DeferredWakes.noteDelay(Duration.ofMillis(28_900), IDLE, LEAD), "due 1.1 s before it may exit");
    }

    @Test void aLongerOneIsNotedALeadBeforeItComesDue() {
        assertEquals(Duration.ofSeconds(28), DeferredWakes.noteDelay(Duration.ofSeconds(29), IDLE, LEAD),
            "due within a second of its exit");
        assertEquals(Duration.ofSeconds(119), DeferredWakes.noteDelay(Duration.ofMinutes(2), IDLE, LEAD));
        assertEquals(Duration.ZERO, DeferredWakes.noteDelay(Duration.ofMillis(500), Duration.ofMillis(400), LEAD),
            "never negative");
    }

    @Test void theNoteIsTheWakeLine() {
        WakeSocket.Wake w = new WakeSocket.Wake("orders", "mail");
        assertEquals("wake orders mail", new String(DeferredWake.body(w)));
        assertEquals(w, DeferredWake.parse(DeferredWake.body(w)));
        assertNull(DeferredWake.parse("wake orders".getBytes()));
        assertNull(DeferredWake.parse(new byte[WakeSocket.MAX_LINE + 1]));
    }
}
