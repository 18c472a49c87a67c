///usr/bin/env jbang "$0" "$@" ; exit $?
//JAVA 17+
//SOURCES ../lib/*.java
//DEPS com.sproutsocial:nsq-j:1.2

import com.sproutsocial.nsq.Client;
import com.sproutsocial.nsq.DirectSubscriber;
import com.sproutsocial.nsq.Message;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * bench/startup.sh's stand-in for a socket-activated consumer until consumer.java has that mode:
 * the same start-up work (JVM, picocli, fd 3 through junixsocket, an NSQ subscription), printing
 * each message body on stdout. SIGTERM stops it. Not a product: no drain, no idle timeout.
 */
@Command(name = "WakeStandIn", mixinStandardHelpOptions = true)
public class WakeStandIn implements Callable<Integer> {
    @Mixin ConnectionOptions.NsqdTcp nsqd;
    @Option(names = "--stream", defaultValue = "${env:STREAM}", required = true) String stream;
    @Option(names = "--group", defaultValue = "${env:GROUP}", required = true) String group;

    public static void main(String... args) { System.exit(Cli.run(new WakeStandIn(), args)); }

    @Override
    public Integer call() throws Exception {
        Log.init("standin", false);
        Cli.require(WakeSocket.activated(System.getenv(), ProcessHandle.current().pid()), "no socket passed (LISTEN_FDS)");
        WakeSocket.Listener wakes = WakeSocket.Listener.fromSystemd();
        wakes.start(w -> Log.debug("woken: %s", w.line()));
        DirectSubscriber sub = new DirectSubscriber(30, nsqd.nsqd.get(0).toString());
        sub.subscribe(stream, group, (Message m) -> {
            System.out.println(new String(m.getData(), StandardCharsets.UTF_8));
            System.out.flush();
            m.finish();
        });
        CountDownLatch stop = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            Client.getDefaultClient().stop();
            stop.countDown();
        }));
        stop.await();
        return Cli.OK;
    }
}
