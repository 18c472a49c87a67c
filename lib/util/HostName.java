package util;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/**
 * This host's name as the kernel has it: what Go's os.Hostname, and so nsqd and go-nsq, reads. Never the
 * resolver's: systemd sets no $HOSTNAME, and InetAddress.getLocalHost() asks DNS, which can hold a
 * socket-activated start for seconds and loads its classes on every start.
 */
public final class HostName {
    private HostName() {}

    private static final Path KERNEL = Path.of("/proc/sys/kernel/hostname");

    /** The kernel's host name; else (not Linux, or no /proc) $HOSTNAME; else "localhost". */
    public static String get() {
        try {
            String name = new String(SmallFile.read(KERNEL, 256), StandardCharsets.US_ASCII).strip();
            if (!name.isEmpty()) return name;
        } catch (SmallFile.Unreadable e) {
            // no kernel name to read here: the one a shell exports is the next best
        }
        String name = System.getenv("HOSTNAME");
        return name != null && !name.isBlank() ? name.strip() : "localhost";
    }
}
