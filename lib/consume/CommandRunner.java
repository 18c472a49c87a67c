package consume;

import cli.Log;
import java.io.IOException;
import java.io.OutputStream;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import util.Durations;

/**
 * Runs consumer.java's --exec on {@link Workers}: one `/bin/sh -c CMD` per message, in a process
 * group of its own ({@link ProcessGroups}), the body on stdin and MQ_STREAM, MQ_GROUP, MQ_ID,
 * MQ_ATTEMPTS in its environment, killed (with its group) past its timeout or the drain's.
 *
 * <p>Thread model: each worker writes its message's body to its command's stdin itself (no thread
 * per message: a command that never reads is killed at its timeout, which ends the write) and waits
 * for it; the pool's timer kills commands at their timeout. Threads: the pool's (concurrency + 1),
 * and the JDK's reaper for each running command.
 */
public final class CommandRunner extends Workers {
    /**
     * How late the timer may be with a kill (it runs kill(1), up to 5 s each) before the worker kills the command
     * itself.
     */
    private static final Duration LATE_KILL = Duration.ofSeconds(10);

    private final String command, group;
    private final Duration timeout;
    private final ProcessGroups groups;

    public CommandRunner(String command, String group, int concurrency, Duration timeout) {
        super(concurrency);
        this.command = command;
        this.group = group;
        this.timeout = timeout;
        this.groups = new ProcessGroups(group);
    }

    @Override public String describe() { return "running '" + command + "' (" + concurrency() + " at once)"; }

    @Override public Duration timeout() { return timeout; }

    /** Runs the command for the job; null when it exited 0, else what went wrong. */
    @Override
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
        ScheduledFuture<?> kill = timer().schedule(() -> {
            if (decided.compareAndSet(false, true)) groups.kill(p);
        }, timeout.toMillis(), TimeUnit.MILLISECONDS);
        try {
            try (OutputStream stdin = p.getOutputStream()) {
                stdin.write(j.m.body());
            } catch (IOException e) {
                Log.debug("command did not read all of %s: %s", j.m, e.getMessage());
            }
            // the timer is late, or closed
            if (!p.waitFor(timeout.toMillis() + LATE_KILL.toMillis(), TimeUnit.MILLISECONDS)) {
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

    /** Past the drain timeout: the command and its group die, and its worker requeues the message. */
    @Override
    protected void stop(Job j) {
        Process p = j.process;
        if (p != null) groups.kill(p);
    }

    /** Takes no more, and kills what any command left running in the background: children die with their consumer. */
    @Override
    public void close() {
        super.close();
        groups.killLeftovers();
    }
}
