import cli.Cli;
import java.io.ByteArrayOutputStream;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import picocli.CommandLine;

/** A command run to its end in this JVM, with what picocli printed (usage errors go there). */
record InProcess(int code, String out, String err) {
    static InProcess run(Object command, String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        // consumer.java is the front door (lib/Nsq.java) with its own options and handlers: the command line is the
        // front door's.
        CommandLine cl = command instanceof consumer c ? c.frontDoor(args).commandLine(c::handler)
            : Cli.commandLine(command);
        cl.setOut(new PrintWriter(out, true, StandardCharsets.UTF_8));
        cl.setErr(new PrintWriter(err, true, StandardCharsets.UTF_8));
        int code = cl.execute(args);
        return new InProcess(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    /** The first line of the error output. */
    String firstErr() { return err.lines().findFirst().orElse(""); }
}
