package wake;

import java.io.IOException;
import java.net.DatagramPacket;
import java.net.SocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import org.newsclub.net.unix.AFUNIXDatagramSocket;
import org.newsclub.net.unix.AFUNIXSocketAddress;
import util.Durations;

/**
 * sd_notify(3) for Type=notify services: one datagram per state ("READY=1", "WATCHDOG=1",
 * "STATUS=...") to $NOTIFY_SOCKET, where a leading '@' means the abstract namespace. Without
 * NOTIFY_SOCKET (not under systemd) every call does nothing.
 */
public final class SdNotify {
    private final String socket;
    private final Duration watchdog;

    private SdNotify(String socket, Duration watchdog) {
        this.socket = socket;
        this.watchdog = watchdog;
    }

    /**
     * Reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID (the watchdog is ours only when the pid matches or is unset).
     */
    public static SdNotify fromEnv(Map<String, String> env, long pid) {
        String socket = env.get("NOTIFY_SOCKET");
        Duration watchdog = null;
        try {
            long usec = Long.parseLong(env.getOrDefault("WATCHDOG_USEC", ""));
            String wpid = env.get("WATCHDOG_PID");
            if (usec > 0 && (wpid == null || Long.parseLong(wpid) == pid)) watchdog = Duration.ofNanos(usec * 1_000);
        } catch (NumberFormatException noWatchdog) {
            // unset or malformed: systemd did not ask for keep-alives
        }
        return new SdNotify(socket == null || socket.isEmpty() ? null : socket, watchdog);
    }

    public boolean enabled() { return socket != null; }

    /** How often to send WATCHDOG=1 (half of WATCHDOG_USEC, as sd_watchdog_enabled(3) advises); null when not asked. */
    public Duration watchdogInterval() { return watchdog == null || socket == null ? null : Durations.half(watchdog); }

    /** Sends one notification ("READY=1"); a no-op when not under systemd. */
    public void send(String state) throws IOException {
        if (socket == null) return;
        SocketAddress to = socket.startsWith("@")
            ? AFUNIXSocketAddress.inAbstractNamespace(socket.substring(1))
            : AFUNIXSocketAddress.of(java.nio.file.Path.of(socket));
        byte[] data = state.getBytes(StandardCharsets.UTF_8);
        try (AFUNIXDatagramSocket s = AFUNIXDatagramSocket.newInstance()) {
            s.connect(to); // a DatagramPacket cannot carry a unix address (the JDK calls it unresolved)
            s.send(new DatagramPacket(data, data.length));
        }
    }
}
