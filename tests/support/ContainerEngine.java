import java.util.List;

/**
 * What the fixture needs from a container engine, in JDK types only, so that RunTests compiles and
 * runs without Testcontainers. The implementation (tests/container/TestcontainersEngine.java, with
 * its own //DEPS) is built and loaded by {@link NsqContainer} only when a test needs nsqd in a
 * container: no local binaries, and a Docker engine may answer. Public: it is loaded by another
 * class loader.
 */
public interface ContainerEngine {
    /** Whether a Docker engine answers. */
    boolean available();

    /** Starts nsqd with these extra flags and returns once the container runs. */
    Nsqd start(List<String> flags) throws Exception;

    /** One nsqd in a container: where its ports are mapped, whether it runs, its log. */
    interface Nsqd {
        String host();
        int tcpPort();
        int httpPort();
        boolean isRunning();
        String logs();
        void stop();
    }
}
