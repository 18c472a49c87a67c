package consume;

import activation.DeferredWake;
import activation.WakeSocket;
import cli.Log;
import java.io.IOException;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.TimeUnit;
import nsq.HostPort;
import nsq.NsqConfig;
import nsq.publish.Publisher;
import nsq.subscribe.Message;
import util.Durations;
import util.Errors;
import util.Threads;

/**
 * A socket-activated consumer's notes to the wakeup ({@link DeferredWake}): when a failed message
 * goes back to nsqd with a delay this run may not outlive (it exits when idle), a DPUB of
 * {@code wake <stream> <group>} to the nsqd the message came from, deferred until a lead before the
 * message comes due. nsqd keeps the time; the wakeup receives the note then and wakes the group, so
 * a consumer is reading when the message comes due and none runs while it waits. A wrong note costs
 * a wake for nothing; a lost one (nsqd refused it, the run was killed first) leaves the message to
 * the wakeup's next scan, as before.
 *
 * <p>The delay is the one MessageLifecycle requeued with ({@link MessageLifecycle#onRequeuedLater}: a
 * failure's backoff, or a handler's own requeue, clamped as nsqd clamps it); nothing here recomputes it.
 * The lead is this run's own start-up three times over (a start-up on a loaded
 * machine is slow again), at least {@link #MIN_LEAD}, at most half the idle timeout, so the consumer
 * it wakes is still running when the message comes due.
 *
 * <p>Thread model: workers call {@link #requeued}, which only queues; one thread, started with the first
 * note, owns the connections (one per nsqd) and sends, so no worker waits on a DPUB. The queue is
 * bounded: a note that does not fit is dropped and counted. {@link #close} sends what is queued,
 * within {@link #CLOSE_WAIT}, then stops the thread.
 */
public final class DeferredWakes implements AutoCloseable {
    static final Duration MIN_LEAD = Duration.ofSeconds(1);
    /**
     * A message due this long after the consumer must have exited is noted; sooner ones it reads itself (nsqd moves a
     * due message within ~100 ms).
     */
    static final Duration MARGIN = Duration.ofSeconds(1);
    /** Notes of one nsqd and stream due this close together are one note: one wake reads them all. */
    static final Duration COALESCE = Duration.ofMillis(250);
    static final Duration CLOSE_WAIT = Duration.ofSeconds(5);
    private static final int QUEUE = 1024;

    private record Note(HostPort nsqd, String stream, long dueMillis, Duration delay) {}

    private static final Note STOP = new Note(null, null, 0, null);

    private final NsqConfig config;
    private final String group;
    private final Duration idleTimeout;
    private final long wiredAtMillis = System.currentTimeMillis();
    private final BlockingQueue<Note> queue = new ArrayBlockingQueue<>(QUEUE);
    private Thread sender;       // under this
    private boolean closed;      // under this
    private Duration lead;       // under this; measured at the first note, off the start path
    private long dropped;        // under this
    // The sender thread's own.
    private final Map<HostPort, Publisher> publishers = new HashMap<>();
    private final Map<String, Long> lastDue = new HashMap<>();
    private final Map<HostPort, String> lastProblem = new HashMap<>();

    private DeferredWakes(NsqConfig config, String group, Duration idleTimeout) {
        this.config = config;
        this.group = group;
        this.idleTimeout = idleTimeout;
    }

    /** Notes for a socket-activated run that exits when idle; for any other, one that never sends. */
    public static DeferredWakes of(boolean activated, NsqConfig config, String group, Duration idleTimeout) {
        boolean exitsIdle = activated && idleTimeout != null && !idleTimeout.isZero();
        return new DeferredWakes(exitsIdle ? config : null, group, idleTimeout);
    }

    /**
     * After {@code m} went back to nsqd for {@code delay}: leaves a note when the consumer may be gone by its due time.
     */
    public void requeued(Message m, Duration delay) {
        if (config == null) return;
        Duration note = noteDelay(delay, idleTimeout, lead());
        if (note == null) return;
        Note n = new Note(m.from(), m.topic(), System.currentTimeMillis() + delay.toMillis(), note);
        synchronized (this) {
            if (closed) return; // the run is over: the scan has what is left
            if (sender == null) sender = Threads.start("deferred-wakes", this::send);
            if (!queue.offer(n)) dropped++;
        }
    }

    /**
     * How long to defer the note for a message requeued for {@code delay}: {@code lead} less, so the wake
     * comes first; null when the consumer is still running then (the failure counted as activity, so it
     * runs at least {@code idleTimeout} more).
     */
    public static Duration noteDelay(Duration delay, Duration idleTimeout, Duration lead) {
        if (delay.plus(MARGIN).compareTo(idleTimeout) < 0) return null;
        Duration d = delay.minus(lead);
        return d.isNegative() ? Duration.ZERO : d;
    }

    /** Three times this run's start-up (JVM start to wiring), at least MIN_LEAD, at most half the idle timeout. */
    synchronized Duration lead() {
        if (lead == null) {
            long startup = ProcessHandle.current().info().startInstant().map(s -> wiredAtMillis
                - s.toEpochMilli()).orElse(0L);
            Duration l = Duration.ofMillis(Math.max(MIN_LEAD.toMillis(), 3 * startup));
            Duration half = Durations.half(idleTimeout);
            lead = l.compareTo(half) > 0 ? half : l;
        }
        return lead;
    }

    private void send() {
        try {
            for (Note n; (n = queue.take()) != STOP; ) publish(n);
        } catch (InterruptedException stopped) {
            Thread.currentThread().interrupt();
        } finally {
            publishers.values().forEach(Publisher::close);
            publishers.clear();
        }
    }

    private void publish(Note n) {
        String key = n.nsqd() + "/" + n.stream();
        Long last = lastDue.get(key);
        if (last != null && n.dueMillis() - last >= 0 && n.dueMillis() - last < COALESCE.toMillis()) return;
        try {
            Publisher p = publishers.get(n.nsqd());
            if (p == null) publishers.put(n.nsqd(), p = new Publisher(n.nsqd(), config));
            p.publishDeferred(DeferredWake.TOPIC, n.delay(), DeferredWake.body(new WakeSocket.Wake(n.stream(), group)));
            lastDue.put(key, n.dueMillis());
            lastProblem.remove(n.nsqd());
            Log.debug("left a wake for %s in %s at nsqd %s (a requeued message comes due then)", group,
                Durations.format(n.delay()), n.nsqd());
        } catch (IOException e) {
            Publisher p = publishers.remove(n.nsqd());
            if (p != null) p.close();
            String why = Errors.oneLine(e);
            if (!why.equals(lastProblem.put(n.nsqd(), why))) {
                Log.warn("cannot leave the wakeup a note at nsqd %s (%s): a message requeued for %s waits for its next "
                    + "scan instead",
                    n.nsqd(), why, Durations.format(n.delay()));
            }
        }
    }

    /** Sends what is queued (within CLOSE_WAIT) and stops; says how many notes did not fit. */
    @Override
    public void close() throws InterruptedException {
        Thread t;
        long lost;
        synchronized (this) {
            closed = true;
            t = sender;
            lost = dropped;
        }
        if (t == null) return;
        if (!queue.offer(STOP, CLOSE_WAIT.toMillis(), TimeUnit.MILLISECONDS)) t.interrupt();
        t.join(CLOSE_WAIT.toMillis());
        if (t.isAlive()) t.interrupt();
        if (lost > 0) Log.warn("%d note(s) to the wakeup did not fit its queue: those messages wait for its next scan",
            lost);
    }
}
