package consume;

import cli.Cli;
import cli.Converters;
import cli.Log;
import java.time.Duration;
import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Consumer;
import nsq.publish.ReliablePublisher;
import nsq.subscribe.Message;
import util.Backoff;
import util.Durations;

/**
 * What becomes of each message a consumer receives, from delivery to its one answer, and the
 * counts the summary reports. A message is admitted (or sent straight back when past --count or
 * draining), handled by the caller, then finished, requeued after a backoff, or moved to the
 * dead-letter stream after --max-attempts. --count is a reservation: an admitted message holds a
 * slot until it is answered, whichever way; the slots taken plus the messages handled never pass
 * --count, the subscriber is paused while they reach it and resumed when a slot comes back.
 *
 * <p>Thread model: reader threads (printing), workers (--exec) and the drain call in at once. One
 * lock guards every decision: which messages hold a slot, how many were handled, whether it drains,
 * and the flow state the subscriber should be in. Nothing that blocks runs under it: REQ and FIN,
 * dead-letter publishes, the {@code onFinished} hook and {@link Flow}'s pause and resume (socket
 * writes) all come after it is released. Pause and resume reach the subscriber in the order the
 * state changed: one thread at a time applies the latest wanted state and looks again before it
 * lets go, so the subscriber ends paused exactly when the counts say so, whatever the threads'
 * timing. {@code received} and {@code requeued} are statistics (atomics) and the idle clock a
 * volatile timestamp: nothing is decided on them.
 */
public final class MessageLifecycle {
    /** The subscriber, as far as --count and the drain need it. Called with no lock held, one call at a time. */
    public interface Flow {
        void pause();
        void resume();
    }

    /**
     * Told of every REQ with a delay, after it went out, with the delay nsqd will apply (clamped as nsqd clamps it).
     */
    public interface Requeued {
        void later(Message m, Duration delay);
    }

    private final long limit;              // --count; 0 = none
    private final int maxAttempts;         // 0 = retry forever
    private final Backoff backoff;         // --backoff, by attempt
    private final String group;
    private final DeadLetters deadLetters;
    private final Consumer<byte[]> onFinished;
    private volatile Flow flow = new Flow() {
        @Override public void pause() {}
        @Override public void resume() {}
    };
    private volatile Runnable onLimitReached = () -> {};
    private volatile Consumer<ReliablePublisher.Failure> onRefused = f -> {};
    private volatile Requeued onRequeuedLater = (m, delay) -> {};
    private volatile String handler = "handler";  // what failed, in log lines: "command" with --exec

    private final ReentrantLock lock = new ReentrantLock();
    // ---- guarded by lock
    /**
     * Admitted and not answered yet, each holding a --count slot (identity: Message keeps Object's equals). Only with
     * --count.
     */
    private final Set<Message> holding = new HashSet<>();
    private long finished, deadLettered;
    private boolean draining, deadLettersRefused, limitSignalled;
    /** What the subscriber should be, what it was last told, and whether a thread is telling it now. */
    private boolean pauseWanted, pauseApplied, applyingFlow;
    // ---- statistics and the idle clock
    private final AtomicLong received = new AtomicLong(), requeued = new AtomicLong();
    private volatile long lastActivity = System.nanoTime(), firstReceived;

    /**
     * {@code onFinished} sees every finished body (--verify); {@code deadLetters} may be null when nothing can fail.
     */
    public MessageLifecycle(long limit, int maxAttempts, Backoff backoff, String group, DeadLetters deadLetters,
            Consumer<byte[]> onFinished) {
        this.limit = limit;
        this.maxAttempts = maxAttempts;
        this.backoff = backoff;
        this.group = group;
        this.deadLetters = deadLetters;
        this.onFinished = onFinished;
    }

    /**
     * --backoff INITIAL/MAX (e.g. 1s/2m): requeue delays doubling per attempt, MAX at most nsqd's default
     * --max-req-timeout.
     */
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
            "--backoff '%s': INITIAL must be more than 0 and at most MAX, MAX at most 1h (nsqd's --max-req-timeout)",
                spec);
        return new Backoff(initial, max);
    }

    /** Set before the first message. */
    public void flow(Flow f) { this.flow = f; }

    /** Called once, on the thread that handled the last message --count asked for. Set before the first message. */
    public void onLimitReached(Runnable r) { this.onLimitReached = r; }

    /** Called once when nsqd refused a dead letter for good: the caller stops the run with exit 1. */
    public void onDeadLetterRefused(Consumer<ReliablePublisher.Failure> stop) { this.onRefused = stop; }

    /**
     * Called after each REQ with a delay (a failure's backoff, or a handler's own requeue), on the thread that sent
     * it: the one place that knows the delay (a socket-activated run leaves the wakeup a note by it). Set before the
     * first message.
     */
    public void onRequeuedLater(Requeued r) { this.onRequeuedLater = r; }

    /**
     * What handles the messages, as log lines name it when it fails ("command", "handler"). Set before the first
     * message.
     */
    public void handledBy(String what) { this.handler = what; }

    public long received() { return received.get(); }
    public long requeued() { return requeued.get(); }
    public long finished() { return locked(() -> finished); }
    public long deadLettered() { return locked(() -> deadLettered); }
    /** Finished or dead-lettered: done with, as far as --count goes. */
    public long handled() { return locked(() -> finished + deadLettered); }
    public long lastActivityNanos() { return lastActivity; }
    public long firstReceivedNanos() { return firstReceived; }
    public boolean draining() { return locked(() -> draining); }
    /** --count messages were handled (never true without --count). */
    public boolean limitReached() { return locked(this::reachedLocked); }

    /** Idle time counts from now (the start of reading, a wake). */
    public void active() { lastActivity = System.nanoTime(); }

    /** Every delivery, before anything else. */
    public void received(Message m) {
        long now = System.nanoTime();
        if (received.incrementAndGet() == 1) firstReceived = now;
        lastActivity = now;
    }

    /**
     * Takes a --count slot for {@code m}; false when it must go back to nsqd for the next consumer
     * (every slot taken or used, or draining), which is done here. A true answer obliges the caller to
     * answer {@code m} through this object ({@link #finish}, {@link #finished}, {@link #failed},
     * {@link #requeueNow}), or to {@link #release} it: that is what gives the slot back.
     */
    public boolean admit(Message m) {
        boolean admitted;
        lock.lock();
        try {
            admitted = !draining && (limit == 0 || finished + deadLettered + holding.size() < limit);
            if (admitted && limit > 0) {
                holding.add(m);
                updateFlowLocked();
            }
        } finally {
            lock.unlock();
        }
        if (!admitted) requeueNow(m);
        else applyFlow();
        return admitted;
    }

    /** FIN, counted as finished; when it had been answered already (the drain requeued it), only its slot goes back. */
    public void finish(Message m) {
        if (m.finish()) finished(List.of(m));
        else release(m);
    }

    /** After their FINs went out. */
    public void finished(Collection<Message> ms) {
        if (ms.isEmpty()) return;
        lock.lock();
        try {
            finished += ms.size();
            if (limit > 0) for (Message m : ms) holding.remove(m);
        } finally {
            lock.unlock();
        }
        for (Message m : ms) onFinished.accept(m.body());
        done();
    }

    /**
     * Back to nsqd with no delay, not a failure: stopping, past --count, or output gone. Gives its slot back, if it
     * held one.
     */
    public void requeueNow(Message m) {
        if (m.requeue(Duration.ZERO) != null) requeued.incrementAndGet();
        release(m);
    }

    /**
     * {@code m} was answered elsewhere (or never will be by us): its slot, if it held one, goes back. Harmless twice.
     */
    public void release(Message m) {
        active();
        if (limit == 0) return;
        lock.lock();
        try {
            if (!holding.remove(m)) return;
            updateFlowLocked();
        } finally {
            lock.unlock();
        }
        applyFlow();
    }

    /**
     * Its handler failed with {@code error}: requeue after the backoff, or dead-letter it after --max-attempts. Gives
     * its slot back.
     */
    public void failed(String stream, Message m, String error) {
        try {
            if (m.answered()) Log.debug("%s: %s failed (%s) after answering it", m, handler, error);
            else if (maxAttempts > 0 && m.attempts() >= maxAttempts && deadLetters != null) deadLetter(stream, m,
                error);
            else Log.warn("%s: %s failed (%s); requeueing in %s", m, handler, error, requeueLater(m));
        } finally {
            release(m);
        }
    }

    /**
     * The handler asked for it: REQ after {@code delay} (--backoff's for this attempt when null), not a failure (no
     * dead letter however often). Returns the delay nsqd will apply; null when {@code m} was answered already. Its slot
     * stays held until the handler returns ({@link #release}).
     */
    public Duration requeue(Message m, Duration delay) {
        Duration asked = delay != null ? delay : backoff.delay(m.attempts());
        Duration used = requeued(m, asked);
        if (used != null) Log.debug("%s: requeued by the %s, in %s", m, handler, Durations.format(used));
        return used;
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
        if (locked(() -> deadLettersRefused)) {
            Log.debug("%s: dead letters are refused; requeueing in %s", m, requeueLater(m));
            return;
        }
        DeadLetters.Published how;
        try {
            how = deadLetters.publish(stream, group, m, error);
        } catch (ReliablePublisher.Failure e) {
            if (!e.refused()) {
                Log.error("%s: dead-letter publish to %s failed (%s); requeueing in %s", m, target, e.getMessage(),
                    requeueLater(m));
                return;
            }
            boolean first = locked(() -> {
                boolean was = deadLettersRefused;
                deadLettersRefused = true;
                return !was;
            });
            if (!first) { // two workers' dead letters were refused at once: the first one says it
                Log.debug("%s: dead letters are refused; requeueing in %s", m, requeueLater(m));
                return;
            }
            Log.error("%s: failed %d times (last: %s); nsqd refused its dead letter to %s for good (%s): requeued in "
                + "%s, stopping (exit 1) instead of retrying", m, m.attempts(), error, target, e.getMessage(),
                requeueLater(m));
            onRefused.accept(e);
            return;
        }
        Log.warn("%s: failed %d times (last: %s); moved to stream %s%s", m, m.attempts(), error, target,
            how == DeadLetters.Published.BODY_ONLY ? " (body only, metadata logged above)" : "");
        // answered meanwhile (the drain requeued it): in the dead letters and back in nsqd, at least once
        if (!m.finish()) return;
        lock.lock();
        try {
            deadLettered++;
            holding.remove(m);
        } finally {
            lock.unlock();
        }
        done();
    }

    /** REQ after --backoff (as nsqd will clamp it). Says when, for the log. */
    private String requeueLater(Message m) {
        Duration asked = backoff.delay(m.attempts());
        Duration used = requeued(m, asked);
        if (used == null) return "(already answered)";
        return used.equals(asked) ? Durations.format(used)
            : Durations.format(used) + " (nsqd's --max-req-timeout; --backoff asked for " + Durations.format(asked)
            + ")";
    }

    /**
     * REQ after {@code asked}, counted, and told to {@link #onRequeuedLater} when it has a delay; the delay used, null
     * if answered already.
     */
    private Duration requeued(Message m, Duration asked) {
        Duration used = m.requeue(asked);
        if (used == null) return null;
        requeued.incrementAndGet();
        if (!used.isZero()) onRequeuedLater.later(m, used);
        return used;
    }

    /** From now on every message goes back to nsqd at once, and the subscriber stays paused. */
    public void drain() {
        lock.lock();
        try {
            draining = true;
            updateFlowLocked();
        } finally {
            lock.unlock();
        }
        applyFlow();
    }

    // ---- under the lock

    private boolean reachedLocked() { return limit > 0 && finished + deadLettered >= limit; }

    /** Paused while draining, or while the slots held and the messages handled add up to --count. */
    private void updateFlowLocked() {
        pauseWanted = draining || limit > 0 && finished + deadLettered + holding.size() >= limit;
    }

    private <T> T locked(java.util.function.Supplier<T> read) {
        lock.lock();
        try {
            return read.get();
        } finally {
            lock.unlock();
        }
    }

    // ---- after the lock

    /** A message was handled: the idle clock, and the --count signal the first time it is reached. */
    private void done() {
        active();
        boolean signal;
        lock.lock();
        try {
            signal = reachedLocked() && !limitSignalled;
            if (signal) limitSignalled = true;
        } finally {
            lock.unlock();
        }
        if (signal) onLimitReached.run();
    }

    /**
     * Tells the subscriber the wanted flow state, outside the lock. One thread at a time does it and,
     * before it lets go, looks again: a change another thread made meanwhile is applied by it, after
     * its own, so pause and resume can never reach the subscriber in the wrong order.
     */
    private void applyFlow() {
        boolean pause;
        lock.lock();
        try {
            if (applyingFlow || pauseApplied == pauseWanted) return;
            applyingFlow = true;
            pause = pauseWanted;
        } finally {
            lock.unlock();
        }
        boolean applied = false;
        try {
            while (true) {
                if (pause) flow.pause();
                else flow.resume();
                lock.lock();
                try {
                    pauseApplied = pause;
                    if (pauseApplied == pauseWanted) {
                        applyingFlow = false;
                        applied = true;
                        return;
                    }
                    pause = pauseWanted;
                } finally {
                    lock.unlock();
                }
            }
        } finally {
            if (!applied) { // pause or resume threw: let the next change try again
                lock.lock();
                try {
                    applyingFlow = false;
                } finally {
                    lock.unlock();
                }
            }
        }
    }
}
