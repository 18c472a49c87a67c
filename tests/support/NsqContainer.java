//DEPS org.testcontainers:testcontainers:2.0.5

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import nsq.HostPort;
import org.junit.jupiter.api.Assumptions;
import org.testcontainers.DockerClientFactory;
import org.testcontainers.containers.GenericContainer;

/** The fixture's fallback where a Docker engine exists but NSQ's binaries do not: nsqd in nsqio/nsq:v1.3.0. */
final class NsqContainer extends NsqFixture.Daemon {
    private final GenericContainer<?> container;

    private NsqContainer(GenericContainer<?> container) {
        super("nsqd (container)");
        this.container = container;
    }

    static boolean dockerAvailable() {
        try {
            return DockerClientFactory.instance().isDockerAvailable();
        } catch (RuntimeException | LinkageError e) {
            System.out.println("Docker not usable: " + e);
            return false;
        }
    }

    @SuppressWarnings("resource") // closed by stop()
    static NsqContainer start(List<String> flags) throws InterruptedException {
        List<String> cmd = new ArrayList<>(List.of("/nsqd", "--data-path=/data", "--broadcast-address=127.0.0.1"));
        cmd.addAll(flags);
        NsqContainer d = new NsqContainer(new GenericContainer<>("nsqio/nsq:v1.3.0")
            .withCommand(cmd.toArray(String[]::new)).withExposedPorts(4150, 4151)
            .withCreateContainerCmdModifier(c -> c.withUser("root")));
        d.container.start();
        d.awaitPing();
        return d;
    }

    @Override HostPort tcp() { return new HostPort(container.getHost(), container.getMappedPort(4150)); }
    @Override HostPort httpAddress() { return new HostPort(container.getHost(), container.getMappedPort(4151)); }
    @Override long pid() { return -1; }
    @Override boolean isAlive() { return container.isRunning(); }

    // Restarting a container may remap its ports, so tests that stop nsqd need local binaries.
    @Override void start() { Assumptions.abort("restarting nsqd needs local binaries (scripts/install-nsq)"); }
    @Override void sigterm() { Assumptions.abort("signalling nsqd needs local binaries (scripts/install-nsq)"); }
    @Override void sigkill() { Assumptions.abort("signalling nsqd needs local binaries (scripts/install-nsq)"); }
    @Override void stop() { container.stop(); }
    @Override String tail() {
        String logs = container.getLogs();
        return logs.length() > 500 ? logs.substring(logs.length() - 500) : logs;
    }
    @Override void printLog() { System.out.println("----- " + name + " log -----\n" + container.getLogs()); }
}
