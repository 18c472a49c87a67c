///usr/bin/env jbang "$0" "$@" ; exit $?
//JAVA 17+
// Issue 24, memory at full speed (make bench, ratios to bench_reader in the same run). The heap is at most 64 MB,
// with a young generation of 16 MB and survivors of 3.2 MB: each ~1 MiB body is a new array and nsqd's window is a
// message or two, so a smaller young generation stalls the stream at every collection (-Xmn4m: 0.48x, -Xmn8m: 0.78x);
// the survivors hold the bodies in flight, so little is promoted. G1 treats a 1 MiB body as humongous (0.50x, 1.8 GB);
// Parallel GC, kept at these sizes, gave 74 MB at 200 B. The serial collector in the same sizes saves its worker
// threads and card tables, and C1 alone the C2 compiler's arenas: 200 B 72-74 -> 62 MB, ~1 MiB 121 -> 112 MB, ratios
// held (1.11x and 1.03x). C1 compiling the JDK's StackMapGenerator.processBlock (lambda spinning, JDK 24+) took an
// arena of up to 4 MB in some runs (62-66 MB without the exclude, 62 MB with it). CompileCommand=quiet keeps the
// JIT's echo of the exclude off stdout, which carries the messages.
// JAVA_OPTS=-Xmx1g for many large messages in flight at once (--concurrency with ~1 MiB bodies).
// scripts/package records //JVM_OPTIONS and bin/mqueue passes them (JBang's //RUNTIME_OPTIONS would reach every script
// that sources this one).
//JVM_OPTIONS -XX:+UseSerialGC -Xms24m -Xmn16m -XX:SurvivorRatio=3 -Xmx64m -XX:TieredStopAtLevel=1
//JVM_OPTIONS -XX:CompileCommand=quiet
//JVM_OPTIONS -XX:CompileCommand=exclude,jdk.internal.classfile.impl.StackMapGenerator::processBlock
//DEPS info.picocli:picocli:4.7.7
// Everything else comes through the front door, which names what it stands on.
//SOURCES lib/Nsq.java

import cli.Cli;
import cli.Converters;
import cli.DeclaredOptions;
import consume.MessageOutput;
import java.io.BufferedOutputStream;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.OutputStream;
import java.time.Duration;
import picocli.CommandLine.Model.CommandSpec;

/**
 * The consumer: lib/Nsq.java's front door with two built-in handlers, printing each message (the
 * default) or running --exec per message. Every other option, and the run itself, is the front door's.
 * Its options are declared in code, as the front door's are, so that a socket-activated start reads no
 * annotations (cli.DeclaredOptions); a handler script may as well use picocli's @Option fields.
 */
public class consumer implements DeclaredOptions {
    MessageOutput.Format format;
    String exec;
    Duration execTimeout;

    @Override
    public void declare(CommandSpec spec) {
        spec.usageMessage().description(
            "Reads streams (NSQ topics) as a group (NSQ channel): every group gets every message, consumers sharing "
            + "a group split them. Prints each message on stdout, or runs --exec per message.",
            "Exits 0 after --timeout without messages, after --count, or on SIGTERM/SIGINT after draining (running "
            + "handlers finish, the rest goes back to nsqd at once). Socket-activated by systemd when "
            + "LISTEN_FDS/LISTEN_PID say so.").footer("", "Examples:",
            "  STREAM=foo GROUP=1 consumer.java --timeout 30",
            "  consumer.java -s foo -g mail --exec './send-mail.sh' --concurrency 4 --max-attempts 5");
        spec.addOption(DeclaredOptions.option(MessageOutput.Format.class, v -> format = v, "--format")
            .paramLabel("raw|json").defaultValue("${env:FORMAT:-raw}")
            .description("Without --exec: 'raw' prints each body on a line; 'json' prints {stream, group, id, "
                + "attempts, ts_ns, body} (body_base64 true when the body is not UTF-8) (env FORMAT, default "
                + "${DEFAULT-VALUE}).").build());
        spec.addOption(DeclaredOptions.option(String.class, v -> exec = v, "--exec").paramLabel("CMD")
            .defaultValue("${env:EXEC}")
            .description("Run CMD with /bin/sh -c per message, in a process group of its own: body on stdin, "
                + "MQ_STREAM, MQ_GROUP, MQ_ID, MQ_ATTEMPTS in its environment. Exit 0 finishes the message; anything "
                + "else requeues it with --backoff. --concurrency commands run at once. What a command leaves running "
                + "in the background is killed when the consumer exits (env EXEC).").build());
        spec.addOption(DeclaredOptions.option(Duration.class, v -> execTimeout = v, "--exec-timeout")
            .paramLabel("DURATION").defaultValue("${env:EXEC_TIMEOUT:-10m}")
            .description("Kill a command running longer and requeue its message (env EXEC_TIMEOUT, default "
                + "${DEFAULT-VALUE}; nsqd's --max-msg-timeout, 15m by default, bounds how long a message can be kept "
                + "by TOUCH).").build());
    }

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
