///usr/bin/env jbang "$0" "$@" ; exit $?
//JAVA 17+
//SOURCES lib/*.java

import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

/** Stub until its issue lands. */
@Command(name = "wakeup", mixinStandardHelpOptions = true, version = "mqueue 0.1",
    description = "Not implemented yet.")
public class wakeup implements Callable<Integer> {
    @Mixin ConnectionOptions.Verbosity verbosity;

    public static void main(String... args) { System.exit(Cli.run(new wakeup(), args)); }

    @Override
    public Integer call() {
        Log.init("wakeup", verbosity.verbose);
        Log.error("not implemented yet");
        return Cli.FAILURE;
    }
}
