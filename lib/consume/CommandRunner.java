package consume;

import cli.Log;
import java.io.IOException;
import java.io.OutputStream;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import nsq.subscribe.Message;
import nsq.subscribe.Subscriber;
import util.Durations;
import util.Threads;

/**
 * Runs consumer.java's --exec: one `/bin/sh -c CMD` per message, in a process group of its own
 * ({@link ProcessGroups}), on a fixed pool of workers, the body on stdin and MQ_STREAM, MQ_GROUP,
 * MQ_ID, MQ_ATTEMPTS in its environment, killed (with its group) past its timeout. While a message waits for a worker or its command runs, it is TOUCHed every
 * msg-timeout/2 so nsqd does not hand it to another consumer. On drain, commands get a grace
 * period and are then killed, so their messages can be requeued at once.
 */
public final class CommandRunner implements AutoCloseable {
    /** One message queued or running. */
    public static final class Job {
        public final String stream;
        public final Message m;
        public final Subscriber sub;
        volatile long lastTouch = System.nanoTime();
        volatile Process process;
        /** Killed by {@link #drain}: requeue at once, it did not fail. */
        public volatile boolean killedForDrain;

        Job(String stream, Message m, Subscriber sub) {
            this.stream = stream;
            this.m = m;
            this.sub = sub;
        }
    }

    private final String command, group;
    private final Duration timeout;
    private final ThreadPoolExecutor workers;
    private final Map<Message, Job> jobs = new ConcurrentHashMap<>();
    private final Thread toucher = Threads.daemon("toucher", this::touchLoop);
    private final ProcessGroups groups;

    public CommandRunner(String command, String group, int concurrency, Duration timeout) {
        this.command = command;
        this.group = group;
        this.timeout = timeout;
        this.groups = new ProcessGroups(group);
        // The queue is unbounded but holds at most max-in-flight: nsqd sends no more.
        this.workers = new ThreadPoolExecutor(concurrency, concurrency, 0, TimeUnit.SECONDS, new LinkedBlockingQueue<>(),
            Threads.daemons("worker"));
        toucher.start();
    }

    /** Queues {@code handler} for the message on a worker; false, and nothing queued, once draining began. */
    public boolean submit(String stream, Subscriber sub, Message m, Consumer<Job> handler) {
        Job j = new Job(stream, m, sub);
        jobs.put(m, j);
        try {
            workers.execute(() -> {
                try {
                    handler.accept(j);
                } finally {
                    jobs.remove(m);
                }
            });
            return true;
        } catch (RejectedExecutionException stoppingNow) {
            jobs.remove(m);
            return false;
        }
    }

    /** Messages queued or running. */
    public boolean busy() { return !jobs.isEmpty(); }

    /** Runs the command for the job; null when it exited 0, else what went wrong. */
    public String run(Job j) {
        try {
            ProcessBuilder pb = new ProcessBuilder(groups.argv(command))
                .redirectOutput(ProcessBuilder.Redirect.INHERIT).redirectError(ProcessBuilder.Redirect.INHERIT);
            pb.environment().putAll(Map.of("MQ_STREAM", j.stream, "MQ_GROUP", group, "MQ_ID", j.m.id(),
                "MQ_ATTEMPTS", String.valueOf(j.m.attempts())));
            Process p = pb.start();
            groups.started(p);
            j.process = p;
            // Written on its own thread: a command that never reads a large body must not block us.
            Threads.start("stdin", () -> {
                try (OutputStream stdin = p.getOutputStream()) {
                    stdin.write(j.m.body());
                } catch (IOException e) {
                    Log.debug("command did not read all of %s: %s", j.m, e.getMessage());
                }
            });
            if (!p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                groups.kill(p);
                return "timed out after " + Durations.format(timeout);
            }
            return p.exitValue() == 0 ? null : "exit status " + p.exitValue();
        } catch (IOException e) {
            return "cannot run command: " + e.getMessage();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return "interrupted";
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
        toucher.interrupt();
        workers.shutdown();
        groups.killLeftovers();
    }

    private void touchLoop() {
        while (!Thread.currentThread().isInterrupted()) {
            try {
                Thread.sleep(500);
            } catch (InterruptedException e) {
                return;
            }
            long now = System.nanoTime();
            for (Job j : jobs.values()) {
                if (now - j.lastTouch >= j.sub.msgTimeout().toNanos() / 2) {
                    j.m.touch();
                    j.lastTouch = now;
                    Log.debug("touched %s", j.m);
                }
            }
        }
    }
}
