package consume;

import cli.Log;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import nsq.subscribe.Message;
import nsq.subscribe.Subscriber;
import util.Durations;
import util.Threads;

/**
 * A fixed pool of workers that handle one message each at a time: what a run hands its messages to
 * when it does not print them. A subclass says what handling one is ({@link #run}: consumer --exec's
 * {@link CommandRunner}, a script's Java handler in lib/Nsq.java) and how to stop it. While a message waits for a
 * worker or is handled, it is TOUCHed every msg-timeout/2 so nsqd does not hand it to another consumer. On drain the
 * pool takes no more, lets what runs finish within a grace period, then has it stopped (a command killed, a handler's
 * thread interrupted) so its message can be requeued at once.
 *
 * <p>Thread model: {@link #submit} runs on the subscriber's reader threads; {@code concurrency}
 * workers run the jobs; one timer thread sends the TOUCHes, each job on its own schedule (nothing
 * polls), and serves a task's own timers ({@link #timer()}: a command's kill at its timeout).
 * {@code jobs}, a concurrent map, is what {@link #busy} reports and {@link #drain} stops; a job's
 * worker thread and process are published through volatile fields. Threads: {@code concurrency} + 1.
 */
public abstract class Workers implements AutoCloseable {
    /** One message queued or being handled. */
    public static final class Job {
        public final String stream;
        public final Message m;
        public final Subscriber sub;
        /** The worker handling it, once one does. */
        volatile Thread worker;
        /** With --exec: its command, once started. */
        volatile Process process;
        volatile ScheduledFuture<?> touches;
        /** Stopped by {@link #drain}: requeue at once, it did not fail. */
        public volatile boolean killedForDrain;

        Job(String stream, Message m, Subscriber sub) {
            this.stream = stream;
            this.m = m;
            this.sub = sub;
        }
    }

    private final ThreadPoolExecutor pool;
    private final ScheduledThreadPoolExecutor timer = new ScheduledThreadPoolExecutor(1,
        Threads.daemons("worker-timer"));
    private final Map<Message, Job> jobs = new ConcurrentHashMap<>();

    private final int concurrency;

    protected Workers(int concurrency) {
        this.concurrency = concurrency;
        // The queue is unbounded but holds at most max-in-flight: nsqd sends no more.
        this.pool = new ThreadPoolExecutor(concurrency, concurrency, 0, TimeUnit.SECONDS, new LinkedBlockingQueue<>(),
            Threads.daemons("worker"));
        timer.setRemoveOnCancelPolicy(true); // a finished job's TOUCH schedule goes at once, not at its next time
    }

    /**
     * Handles {@code j}'s message, on a worker: null when that went well, else what went wrong. An Error is thrown on.
     */
    public abstract String run(Job j);

    /**
     * Past the drain timeout: end {@code j}'s handling now, so its message can be requeued. Here: interrupt its worker.
     */
    protected void stop(Job j) {
        Thread t = j.worker;
        if (t != null) t.interrupt();
    }

    /** What runs per message, for the log line at start, e.g. "running 'CMD' (4 at once)". */
    public abstract String describe();

    /** How long one handling may run before it is stopped; null when there is no limit. */
    public Duration timeout() { return null; }

    public int concurrency() { return concurrency; }

    /** The pool's timer thread, for a subclass's own timers; what runs on it must not block. */
    protected ScheduledExecutorService timer() { return timer; }

    /** Queues {@code handler} for the message on a worker; false, and nothing queued, once draining began. */
    public boolean submit(String stream, Subscriber sub, Message m, Consumer<Job> handler) {
        Job j = new Job(stream, m, sub);
        jobs.put(m, j);
        try {
            long half = Math.max(1, sub.msgTimeout().toMillis() / 2);
            j.touches = timer.scheduleAtFixedRate(() -> touch(j), half, half, TimeUnit.MILLISECONDS);
            pool.execute(() -> {
                j.worker = Thread.currentThread();
                try {
                    handler.accept(j);
                } finally {
                    j.worker = null;
                    Thread.interrupted(); // a drain's interrupt that came as the job ended must not reach the next one
                    done(j);
                }
            });
            return true;
        } catch (RejectedExecutionException stoppingNow) {
            done(j);
            return false;
        }
    }

    private void done(Job j) {
        jobs.remove(j.m);
        ScheduledFuture<?> t = j.touches;
        if (t != null) t.cancel(false);
    }

    private static void touch(Job j) {
        j.m.touch();
        Log.debug("touched %s", j.m);
    }

    /** Messages queued or being handled. */
    public boolean busy() { return !jobs.isEmpty(); }

    /**
     * Takes no more; queued and running jobs finish within {@code grace}, then each one still there is stopped
     * (marked {@link Job#killedForDrain}), and the pool gets 5 s more.
     */
    public void drain(Duration grace) throws InterruptedException {
        pool.shutdown();
        if (pool.awaitTermination(grace.toMillis(), TimeUnit.MILLISECONDS)) return;
        Log.warn("handlers still running after --drain-timeout %s: stopping them and requeueing their messages",
            Durations.format(grace));
        for (Job j : jobs.values()) {
            j.killedForDrain = true;
            stop(j);
        }
        if (!pool.awaitTermination(5, TimeUnit.SECONDS)) Log.warn("handlers did not stop; closing anyway");
    }

    /**
     * Takes no more and stops the timer; what still runs is left to end with the JVM (daemon threads). Subclasses add
     * theirs.
     */
    @Override
    public void close() {
        timer.shutdownNow();
        pool.shutdown();
    }
}
