///usr/bin/env jbang "$0" "$@" ; exit $?
//JAVA 17+
// Parallel GC, not G1 (same nsqd, 2 pairs each): consume ~1 MiB 513 -> 1,218 MB/s (1 MiB bodies are humongous objects
// to G1), 200 B 345k -> 433k msg/s. Generations kept at their initial sizes (young: a third of the initial heap, itself
// 1/64 of RAM): left adaptive the heap kept growing, and a third of the CPU went to the kernel zeroing new pages (perf:
// clear_page_erms); 4,000 x 1 MiB: 811 -> 1,647 msg/s, RSS 1.17 GB -> 180 MB.
// Issue 24, full-speed RSS (make bench, ratios to bench_reader in the same run, 2 pairs each): a young generation of
// 16 MB with survivors of 3.2 MB, not a third of that initial heap (128 MB, all of it touched at full speed), and a
// heap of at most 64 MB: 200 B 154 -> 74 MB, ~1 MiB 184 -> 121 MB at 1.07x bench_reader. Smaller young generations
// halve the ~1 MiB rate (-Xmn4m: 0.48x, -Xmn8m: 0.78x): each body is a new 1 MiB array and nsqd's window is a message
// or two, so every collection stalls the stream; the survivors hold those in flight, so little is promoted.
// JAVA_OPTS=-Xmx1g for many large messages in flight at once (--concurrency with ~1 MiB bodies).
// scripts/package records //JVM_OPTIONS and bin/mqueue passes them (JBang's //RUNTIME_OPTIONS would reach every script
// that sources this one).
//JVM_OPTIONS -XX:+UseParallelGC -XX:-UseAdaptiveSizePolicy -Xms24m -Xmn16m -XX:SurvivorRatio=3 -Xmx64m
//DEPS info.picocli:picocli:4.7.7
// Everything else comes through the front door, which names what it stands on.
//SOURCES lib/Nsq.java

import cli.Cli;
import cli.Converters;
import consume.MessageOutput;
import java.io.BufferedOutputStream;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.OutputStream;
import java.time.Duration;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * The consumer: lib/Nsq.java's front door with two built-in handlers, printing each message (the
 * default) or running --exec per message. Every other option, and the run itself, is the front door's.
 */
@Command(name = "consumer",
    description = {"Reads streams (NSQ topics) as a group (NSQ channel): every group gets every message, "
        + "consumers sharing a group split them. Prints each message on stdout, or runs --exec per message.",
        "Exits 0 after --timeout without messages, after --count, or on SIGTERM/SIGINT after draining "
        + "(running handlers finish, the rest goes back to nsqd at once). Socket-activated by systemd "
        + "when LISTEN_FDS/LISTEN_PID say so."},
    footer = {"", "Examples:",
        "  STREAM=foo GROUP=1 consumer.java --timeout 30",
        "  consumer.java -s foo -g mail --exec './send-mail.sh' --concurrency 4 --max-attempts 5"})
public class consumer {
    @Option(names = "--format", paramLabel = "raw|json", defaultValue = "${env:FORMAT:-raw}",
        description = "Without --exec: 'raw' prints each body on a line; 'json' prints {stream, group, id, attempts, "
            + "ts_ns, body} (body_base64 true when the body is not UTF-8) (env FORMAT, default ${DEFAULT-VALUE}).")
    MessageOutput.Format format;

    @Option(names = "--exec", paramLabel = "CMD", defaultValue = "${env:EXEC}",
        description =
            "Run CMD with /bin/sh -c per message, in a process group of its own: body on stdin, MQ_STREAM, MQ_GROUP, "
            + "MQ_ID, MQ_ATTEMPTS in its environment. Exit 0 finishes the message; anything else requeues it with "
            + "--backoff. --concurrency commands run at once. What a command leaves running in the background is "
            + "killed when the consumer exits (env EXEC).")
    String exec;

    @Option(names = "--exec-timeout", paramLabel = "DURATION", defaultValue = "${env:EXEC_TIMEOUT:-10m}",
        description =
            "Kill a command running longer and requeue its message (env EXEC_TIMEOUT, default ${DEFAULT-VALUE}; "
            + "nsqd's --max-msg-timeout, 15m by default, bounds how long a message can be kept by TOUCH).")
    Duration execTimeout;

    /** Where printed messages go; stdout when null (tests give their own). */
    OutputStream out;

    public static void main(String... args) {
        consumer c = new consumer();
        c.frontDoor(args).handle(c::handler);
    }

    /** The front door with this script's options added (tests run it in-process). */
    Nsq.Consumer frontDoor(String... args) { return Nsq.consumer(args).name("consumer").options(this); }

    /** Once the options are parsed: --exec's command per message, or every message printed. */
    Nsq.Handler handler() {
        Cli.require(exec == null || !exec.isBlank(), "--exec needs a command");
        Cli.require(!execTimeout.isZero(), "--exec-timeout must be more than 0");
        Converters.requireDuration("--exec-timeout", execTimeout, Duration.ofMillis(1), Duration.ofHours(24), "");
        if (exec != null) return Nsq.exec(exec, execTimeout);
        return Nsq.print(out != null ? out : new BufferedOutputStream(new FileOutputStream(FileDescriptor.out), 64
            * 1024), format);
    }
}
