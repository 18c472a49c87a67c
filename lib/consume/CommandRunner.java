package consume;

import cli.Log;
import java.io.IOException;
import java.io.OutputStream;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;
import nsq.subscribe.Message;
import nsq.subscribe.Subscriber;
import util.Durations;
import util.Threads;

/**
 * Runs consumer.java's --exec: one `/bin/sh -c CMD` per message, in a process group of its own
 * ({@link ProcessGroups}), on a fixed pool of workers, the body on stdin and MQ_STREAM, MQ_GROUP,
 * MQ_ID, MQ_ATTEMPTS in its environment, killed (with its group) past its timeout. While a message
 * waits for a worker or its command runs, it is TOUCHed every msg-timeout/2 so nsqd does not hand it
 * to another consumer. On drain, commands get a grace period and are then killed, so their messages
 * can be requeued at once.
 *
 * <p>Thread model: {@link #submit} runs on the subscriber's reader threads; {@code concurrency}
 * workers run the commands, each writing its message's body to its command's stdin itself (no
 * thread per message: a command that never reads is killed at its timeout, which ends the write)
 * and waiting for it; one timer thread sends the TOUCHes and kills commands at their timeout, each
 * job's on its own schedule (nothing polls). {@code jobs}, a concurrent map, is what {@link #busy}
 * reports and {@link #drain} kills; a job's process is published through a volatile field. Threads:
 * {@code concurrency} + 1 of ours whatever the load (and the JDK's reaper for each running command).
 */
public final class CommandRunner implements AutoCloseable {
    /** One message queued or running. */
    public static final class Job {
        public final String stream;
        public final Message m;
        public final Subscriber sub;
        volatile Process process;
        volatile ScheduledFuture<?> touches;
        /** Killed by {@link #drain}: requeue at once, it did not fail. */
        public volatile boolean killedForDrain;

        Job(String stream, Message m, Subscriber sub) {
            this.stream = stream;
            this.m = m;
            this.sub = sub;
        }
    }

    /** How late the timer may be with a kill (it runs kill(1), up to 5 s each) before the worker kills the command itself. */
    private static final Duration LATE_KILL = Duration.ofSeconds(10);

    private final String command, group;
    private final Duration timeout;
    private final ThreadPoolExecutor workers;
    private final ScheduledThreadPoolExecutor timer = new ScheduledThreadPoolExecutor(1, Threads.daemons("exec-timer"));
    private final Map<Message, Job> jobs = new ConcurrentHashMap<>();
    private final ProcessGroups groups;

    public CommandRunner(String command, String group, int concurrency, Duration timeout) {
        this.command = command;
        this.group = group;
        this.timeout = timeout;
        this.groups = new ProcessGroups(group);
        // The queue is unbounded but holds at most max-in-flight: nsqd sends no more.
        this.workers = new ThreadPoolExecutor(concurrency, concurrency, 0, TimeUnit.SECONDS, new LinkedBlockingQueue<>(),
            Threads.daemons("worker"));
        timer.setRemoveOnCancelPolicy(true); // a finished job's TOUCH schedule goes at once, not at its next time
    }

    /** Queues {@code handler} for the message on a worker; false, and nothing queued, once draining began. */
    public boolean submit(String stream, Subscriber sub, Message m, Consumer<Job> handler) {
        Job j = new Job(stream, m, sub);
        jobs.put(m, j);
        try {
            long half = Math.max(1, sub.msgTimeout().toMillis() / 2);
            j.touches = timer.scheduleAtFixedRate(() -> touch(j), half, half, TimeUnit.MILLISECONDS);
            workers.execute(() -> {
                try {
                    handler.accept(j);
                } finally {
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

    /** Messages queued or running. */
    public boolean busy() { return !jobs.isEmpty(); }

    /** Runs the command for the job; null when it exited 0, else what went wrong. */
    public String run(Job j) {
        Process p;
        try {
            ProcessBuilder pb = new ProcessBuilder(groups.argv(command))
                .redirectOutput(ProcessBuilder.Redirect.INHERIT).redirectError(ProcessBuilder.Redirect.INHERIT);
            pb.environment().putAll(Map.of("MQ_STREAM", j.stream, "MQ_GROUP", group, "MQ_ID", j.m.id(),
                "MQ_ATTEMPTS", String.valueOf(j.m.attempts())));
            p = pb.start();
        } catch (IOException e) {
            return "cannot run command: " + e.getMessage();
        }
        groups.started(p);
        j.process = p;
        // The kill at the timeout also ends a stdin write that the command does not read. Whichever comes first, the
        // command's end or its timeout, decides what this run was (a running task can still be cancelled: no use here).
        AtomicBoolean decided = new AtomicBoolean();
        ScheduledFuture<?> kill = timer.schedule(() -> {
            if (decided.compareAndSet(false, true)) groups.kill(p);
        }, timeout.toMillis(), TimeUnit.MILLISECONDS);
        try {
            try (OutputStream stdin = p.getOutputStream()) {
                stdin.write(j.m.body());
            } catch (IOException e) {
                Log.debug("command did not read all of %s: %s", j.m, e.getMessage());
            }
            if (!p.waitFor(timeout.toMillis() + LATE_KILL.toMillis(), TimeUnit.MILLISECONDS)) { // the timer is late, or closed
                if (decided.compareAndSet(false, true)) groups.kill(p);
                p.waitFor();
            }
            int status = p.exitValue();
            if (!decided.compareAndSet(false, true)) return "timed out after " + Durations.format(timeout);
            return status == 0 ? null : "exit status " + status;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            groups.kill(p);
            return "interrupted";
        } finally {
            kill.cancel(false);
        }
    }

    /** Takes no more; queued and running jobs finish within {@code grace}, then running commands are killed. */
    public void drain(Duration grace) throws InterruptedException {
        workers.shutdown();
        if (workers.awaitTermination(grace.toMillis(), TimeUnit.MILLISECONDS)) return;
        Log.warn("handlers still running after --drain-timeout %s: killing them and requeueing their messages", Durations.format(grace));
        for (Job j : jobs.values()) {
            j.killedForDrain = true;
            Process p = j.process;
            if (p != null) groups.kill(p);
        }
        if (!workers.awaitTermination(5, TimeUnit.SECONDS)) Log.warn("handlers did not stop; closing anyway");
    }

    /** Takes no more, and kills what any command left running in the background: children die with their consumer. */
    @Override
    public void close() {
        timer.shutdownNow();
        workers.shutdown();
        groups.killLeftovers();
    }
}
