package consume;

import cli.Cli;
import cli.Converters;
import cli.Log;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import nsq.publish.ReliablePublisher;
import nsq.subscribe.Message;
import util.Backoff;
import util.Durations;

/**
 * What becomes of each message a consumer receives, from delivery to its one answer, and the
 * counts the summary reports. A message is admitted (or sent straight back when past --count or
 * draining), handled by the caller, then finished, requeued after a backoff, or moved to the
 * dead-letter stream after --max-attempts. --count is a reservation: the message that takes the
 * last slot pauses the subscriber, and a requeued one gives its slot back.
 */
public final class MessageLifecycle {
    /** The subscriber, as far as --count needs it. */
    public interface Flow {
        void pause();
        void resume();
    }

    private final long limit;              // --count; 0 = none
    private final int maxAttempts;         // 0 = retry forever
    private final Backoff backoff;         // --backoff, by attempt
    private final String group;
    private final DeadLetters deadLetters;
    private final Consumer<byte[]> onFinished;
    private Flow flow = new Flow() {
        @Override public void pause() {}
        @Override public void resume() {}
    };
    private final AtomicLong received = new AtomicLong(), finished = new AtomicLong(), requeued = new AtomicLong(),
        deadLettered = new AtomicLong(), reserved = new AtomicLong();
    private final CountDownLatch limitReached = new CountDownLatch(1);
    private volatile boolean draining, deadLettersRefused;
    private Consumer<ReliablePublisher.Failure> onRefused = f -> {};
    private volatile long lastActivity = System.nanoTime(), firstReceived;

    /** {@code onFinished} sees every finished body (--verify); {@code deadLetters} may be null when nothing can fail. */
    public MessageLifecycle(long limit, int maxAttempts, Backoff backoff, String group, DeadLetters deadLetters, Consumer<byte[]> onFinished) {
        this.limit = limit;
        this.maxAttempts = maxAttempts;
        this.backoff = backoff;
        this.group = group;
        this.deadLetters = deadLetters;
        this.onFinished = onFinished;
    }

    /** --backoff INITIAL/MAX (e.g. 1s/2m): requeue delays doubling per attempt, MAX at most nsqd's default --max-req-timeout. */
    public static Backoff backoff(String spec) {
        String[] parts = spec.split("/");
        Cli.require(parts.length == 2, "--backoff '%s': expected INITIAL/MAX, e.g. 1s/2m", spec);
        Duration initial, max;
        try {
            initial = Converters.duration(parts[0]);
            max = Converters.duration(parts[1]);
        } catch (RuntimeException e) {
            throw new Cli.UsageException("--backoff '" + spec + "': " + e.getMessage());
        }
        Cli.require(!initial.isZero() && initial.compareTo(max) <= 0 && max.compareTo(Duration.ofHours(1)) <= 0,
            "--backoff '%s': INITIAL must be more than 0 and at most MAX, MAX at most 1h (nsqd's --max-req-timeout)", spec);
        return new Backoff(initial, max);
    }

    public void flow(Flow f) { this.flow = f; }

    /** Called once when nsqd refused a dead letter for good: the caller stops the run with exit 1. */
    public void onDeadLetterRefused(Consumer<ReliablePublisher.Failure> stop) { this.onRefused = stop; }

    public long received() { return received.get(); }
    public long finished() { return finished.get(); }
    public long requeued() { return requeued.get(); }
    public long deadLettered() { return deadLettered.get(); }
    /** Finished or dead-lettered: done with, as far as --count goes. */
    public long handled() { return finished.get() + deadLettered.get(); }
    public long lastActivityNanos() { return lastActivity; }
    public long firstReceivedNanos() { return firstReceived; }
    public boolean draining() { return draining; }

    /** Idle time counts from now (the start of reading, a wake). */
    public void active() { lastActivity = System.nanoTime(); }

    /** Every delivery, before anything else. */
    public void received(Message m) {
        if (received.incrementAndGet() == 1) firstReceived = System.nanoTime();
        active();
    }

    /**
     * Takes a --count slot for {@code m}; false when it must go back to nsqd for the next consumer
     * (past --count, or draining), which is done here.
     */
    public boolean admit(Message m) {
        if (draining || limit > 0 && reserved.incrementAndGet() > limit) {
            requeueNow(m);
            return false;
        }
        if (limit > 0 && reserved.get() == limit) flow.pause(); // the last one --count needs: ask for no more
        return true;
    }

    /** After its FIN went out. */
    public void finished(Message m) {
        finished.incrementAndGet();
        onFinished.accept(m.body());
        done();
    }

    /** Back to nsqd with no delay, not a failure: stopping, past --count, or output gone. */
    public void requeueNow(Message m) {
        if (m.requeue(Duration.ZERO) != null) requeued.incrementAndGet();
        active();
    }

    /** Its handler failed with {@code error}: requeue after the backoff, or dead-letter it after --max-attempts. */
    public void failed(String stream, Message m, String error) {
        if (maxAttempts > 0 && m.attempts() >= maxAttempts && deadLetters != null) deadLetter(stream, m, error);
        else Log.warn("%s: command failed (%s); requeueing in %s", m, error, requeueLater(m));
        active();
    }

    /**
     * FIN once the dead letter is in nsqd. If nsqd did not acknowledge it in time, REQ after the
     * backoff and try again on the next attempt. If nsqd refused it for good (auth, TLS, a size it
     * will not take even as the bare body), every later dead letter would be refused the same way:
     * the message is requeued (kept in nsqd, never lost), that is said once, and the consumer stops
     * with exit 1 instead of looping; the next run, once that is fixed, moves it.
     */
    private void deadLetter(String stream, Message m, String error) {
        String target = deadLetters.streamFor(stream);
        if (deadLettersRefused) {
            Log.debug("%s: dead letters are refused; requeueing in %s", m, requeueLater(m));
            return;
        }
        DeadLetters.Published how;
        try {
            how = deadLetters.publish(stream, group, m, error);
        } catch (ReliablePublisher.Failure e) {
            if (!e.refused()) {
                Log.error("%s: dead-letter publish to %s failed (%s); requeueing in %s", m, target, e.getMessage(), requeueLater(m));
                return;
            }
            deadLettersRefused = true;
            Log.error("%s: failed %d times (last: %s); nsqd refused its dead letter to %s for good (%s): requeued in %s, "
                + "stopping (exit 1) instead of retrying", m, m.attempts(), error, target, e.getMessage(), requeueLater(m));
            onRefused.accept(e);
            return;
        }
        Log.warn("%s: failed %d times (last: %s); moved to stream %s%s", m, m.attempts(), error, target,
            how == DeadLetters.Published.BODY_ONLY ? " (body only, metadata logged above)" : "");
        if (m.finish()) deadLettered.incrementAndGet();
        done();
    }

    /** REQ after --backoff (as nsqd will clamp it); the --count slot it held goes to another message. Says when, for the log. */
    private String requeueLater(Message m) {
        Duration asked = backoff.delay(m.attempts());
        Duration used = m.requeue(asked);
        if (used == null) return "(already answered)";
        requeued.incrementAndGet();
        if (limit > 0 && !draining && reserved.decrementAndGet() < limit) flow.resume();
        return used.equals(asked) ? Durations.format(used)
            : Durations.format(used) + " (nsqd's --max-req-timeout; --backoff asked for " + Durations.format(asked) + ")";
    }

    /** From now on every message goes back to nsqd at once. */
    public void drain() { draining = true; }

    /** Waits until --count messages were handled; false on timeout (or when there is no --count). */
    public boolean awaitLimit(Duration timeout) throws InterruptedException {
        return limit > 0 && limitReached.await(timeout.toMillis(), TimeUnit.MILLISECONDS);
    }

    public boolean limitReached() { return limit > 0 && handled() >= limit; }

    private void done() {
        active();
        if (limitReached()) limitReached.countDown();
    }
}
