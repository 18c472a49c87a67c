//DEPS org.testcontainers:testcontainers:2.0.5
//SOURCES ../support/ContainerEngine.java

import java.util.ArrayList;
import java.util.List;
import org.testcontainers.DockerClientFactory;
import org.testcontainers.containers.GenericContainer;

/**
 * nsqd in nsqio/nsq:v1.3.0 through Testcontainers: the fixture's fallback where a Docker engine
 * exists but NSQ's binaries do not. A JBang script of its own, so its dependencies are fetched only
 * when that fallback is used (tests/support/NsqContainer.java builds and loads it).
 */
public class TestcontainersEngine implements ContainerEngine {
    @Override public boolean available() {
        try {
            return DockerClientFactory.instance().isDockerAvailable();
        } catch (RuntimeException | LinkageError e) {
            System.out.println("Docker not usable: " + e);
            return false;
        }
    }

    @SuppressWarnings("resource") // stopped by Nsqd.stop()
    @Override public Nsqd start(List<String> flags) {
        List<String> cmd = new ArrayList<>(List.of("/nsqd", "--data-path=/data", "--broadcast-address=127.0.0.1"));
        cmd.addAll(flags);
        GenericContainer<?> c = new GenericContainer<>("nsqio/nsq:v1.3.0")
            .withCommand(cmd.toArray(String[]::new)).withExposedPorts(4150, 4151)
            .withCreateContainerCmdModifier(m -> m.withUser("root"));
        c.start();
        return new Nsqd() {
            @Override public String host() { return c.getHost(); }
            @Override public int tcpPort() { return c.getMappedPort(4150); }
            @Override public int httpPort() { return c.getMappedPort(4151); }
            @Override public boolean isRunning() { return c.isRunning(); }
            @Override public String logs() { return c.getLogs(); }
            @Override public void stop() { c.stop(); }
        };
    }
}
