package activation;

import cli.Log;
import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.ClosedSelectorException;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import nsq.Names;
import org.newsclub.net.unix.AFUNIXServerSocketChannel;
import org.newsclub.net.unix.AFUNIXSocket;
import org.newsclub.net.unix.AFUNIXSocketAddress;
import org.newsclub.net.unix.FileDescriptorCast;
import util.Threads;

/**
 * The wake protocol on a group's unix socket: the client writes {@code wake <stream> <group>\n},
 * or {@code wake <stream> <group> backlog\n} when it woke the group for messages its scan found
 * waiting rather than for a fresh publish; the consumer answers {@code ok\n} and both close. The
 * consumer side takes the listening socket systemd passed as fd 3; wakeup.java is the client.
 */
public final class WakeSocket {
    public static final int SD_LISTEN_FDS_START = 3;
    /** A wake line is short; anything longer is garbage and is not read further. */
    public static final int MAX_LINE = 256;
    /** How long one client may take to send its line. */
    public static final Duration CLIENT_TIMEOUT = Duration.ofSeconds(1);

    private WakeSocket() {}

    /** {@code backlog}: woken for messages that were waiting (the wakeup's scan), not for a fresh publish. */
    public record Wake(String stream, String group, boolean backlog) {
        public static final String BACKLOG = "backlog";

        public Wake(String stream, String group) { this(stream, group, false); }

        public String line() { return "wake " + stream + " " + group + (backlog ? " " + BACKLOG : ""); }
    }

    /** True when systemd passed this process its sockets: LISTEN_PID is our pid and LISTEN_FDS >= 1. */
    public static boolean activated(Map<String, String> env, long pid) {
        try {
            return Long.parseLong(env.getOrDefault("LISTEN_PID", "")) == pid
                && Integer.parseInt(env.getOrDefault("LISTEN_FDS", "")) >= 1;
        } catch (NumberFormatException notActivated) {
            return false;
        }
    }

    /**
     * When systemd started this process for its socket, initializes junixsocket (its native library, the classes
     * that adopt fd 3) on a thread of its own while this one parses the options: ~10 ms of a cold wake run on the
     * other core (issue 24). Only classes are loaded; the socket is adopted later, by {@link Listener#fromSystemd}.
     */
    public static void prepare(Map<String, String> env) {
        if (!activated(env, ProcessHandle.current().pid())) return;
        Threads.start("wake-socket-prepare", () -> {
            try {
                for (Class<?> c : new Class<?>[] {FileDescriptorCast.class, AFUNIXServerSocketChannel.class}) {
                    Class.forName(c.getName(), true, c.getClassLoader());
                }
            } catch (ClassNotFoundException | LinkageError e) {
                Log.debug("junixsocket not prepared ahead (%s): it loads when fd 3 is adopted", e);
            }
        });
    }

    /** Parses a wake line; null when it is anything else. */
    public static Wake parse(String line) {
        String[] parts = line.strip().split(" ");
        boolean backlog = parts.length == 4 && parts[3].equals(Wake.BACKLOG);
        if (parts.length != 3 && !backlog || !parts[0].equals("wake")) return null;
        if (!Names.isValid(parts[1]) || !Names.isValid(parts[2])) return null;
        return new Wake(parts[1], parts[2], backlog);
    }

    /** Client: one wake round trip; returns how long it took. Throws when nobody answers "ok". */
    public static Duration wake(Path socket, Wake wake, Duration timeout) throws IOException {
        long start = System.nanoTime();
        try (AFUNIXSocket s = AFUNIXSocket.newInstance()) {
            s.connect(AFUNIXSocketAddress.of(socket), (int) timeout.toMillis());
            s.setSoTimeout((int) timeout.toMillis());
            s.getOutputStream().write((wake.line() + "\n").getBytes(StandardCharsets.US_ASCII));
            s.getOutputStream().flush();
            String answer = readLine(s.getInputStream(), MAX_LINE);
            if (!"ok".equals(answer)) throw new IOException(socket + " answered '" + answer + "' instead of 'ok'");
        }
        return Duration.ofNanos(System.nanoTime() - start);
    }

    /** Reads one line of at most {@code max} bytes; null at EOF or past the limit. */
    public static String readLine(InputStream in, int max) throws IOException {
        byte[] buf = new byte[max];
        int n = 0;
        while (n < max) {
            int b = in.read();
            if (b < 0) return null;
            if (b == '\n') return new String(buf, 0, n, StandardCharsets.US_ASCII);
            buf[n++] = (byte) b;
        }
        return null;
    }

    /**
     * Why fd {@code fd} is not the listening socket LISTEN_FDS promised, for the one error line:
     * "not open", "socket:[1234] (not a listening unix socket)", or the file it is.
     */
    public static String describeFd(int fd) {
        Path link = Path.of("/proc/self/fd/" + fd);
        try {
            String target = Files.readSymbolicLink(link).toString();
            return target.startsWith("socket:") ? target + ", a socket but not a listening unix socket" : target
                + ", not a socket";
        } catch (NoSuchFileException closed) {
            return "not open";
        } catch (IOException | UnsupportedOperationException e) {
            return "unreadable (" + e.getMessage() + ")";
        }
    }

    /**
     * Server: accepts every wake connection for the whole run. Each connection gets its own thread
     * and a deadline for its whole line ({@link #CLIENT_TIMEOUT}, not per read, so a client that
     * trickles a byte a second is dropped too). At most {@link #MAX_OPEN} connections are read at
     * once; one more arriving sheds the oldest that has not sent its line yet, never the newest:
     * clients that connect and stay silent cannot crowd out a wake, because a real wakeup writes
     * its line as soon as it is connected and is answered long before it becomes the oldest.
     *
     * <p>systemd's socket is never closed, shut down or unlinked here. systemd keeps its own copy of
     * the listening socket and watches it; junixsocket's close() calls shutdown(2) on a socket
     * whatever {@code setShutdownOnClose} says, and a shut-down listening socket polls POLLHUP in
     * systemd, which then fails the .socket unit ("Failed with result 'resources'") and, with
     * RemoveOnStop=yes, deletes the socket file: the group was never woken again until an admin
     * restarted it (issue 19, seen under systemd 252 as PID 1). So {@link #close()} leaves an
     * adopted socket alone and the process exit closes our descriptor, which is only a close(2).
     *
     * <p>Threads: one acceptor waits in a {@link Selector} on the non-blocking listening channel; it
     * alone accepts. {@link #stop()} sets {@code stopping} and wakes the selector, so the acceptor
     * ends at once and nothing polls (it used to wake every 200 ms to look at a flag). Each accepted
     * connection is read on a thread of its own; {@code open} (guarded by itself) is the set being
     * read, in accept order. start/stop/close are synchronized on the listener.
     */
    public static final class Listener implements Closeable {
        /** Connections being read at once; a wake takes microseconds, so this only bounds threads. */
        public static final int MAX_OPEN = 16;

        private final AFUNIXServerSocketChannel server;
        private final boolean adopted; // systemd's socket: never closed by us
        private final Selector selector;
        private final Duration deadline;
        private final int maxOpen;
        private final Deque<Client> open = new ArrayDeque<>(); // accept order: the oldest first
        private final AtomicLong wakes = new AtomicLong(), rejected = new AtomicLong(), shed = new AtomicLong();
        private volatile long lastWakeNanos;
        private volatile boolean stopping;
        private Thread acceptor;

        /** One connection: read until its deadline; shed (closed) while still reading if the pool is full. */
        private final class Client {
            final Socket socket;
            final long deadlineNanos;
            boolean answering; // its line was read: never shed

            Client(Socket socket) {
                this.socket = socket;
                this.deadlineNanos = System.nanoTime() + deadline.toNanos();
            }
        }

        private Listener(AFUNIXServerSocketChannel server, boolean adopted, Duration deadline,
                int maxOpen) throws IOException {
            this.server = server;
            this.adopted = adopted;
            this.deadline = deadline;
            this.maxOpen = maxOpen;
            server.setDeleteOnClose(false); // the path is systemd's (or, in tests, the caller's): never unlink it
            if (adopted) server.setShutdownOnClose(false); // should junixsocket's cleaner ever close it
            server.configureBlocking(false);
            selector = server.provider().openSelector();
            server.register(selector, SelectionKey.OP_ACCEPT);
        }

        /** The listening socket systemd passed as fd 3. */
        public static Listener fromSystemd() throws IOException {
            return adopt(SD_LISTEN_FDS_START);
        }

        /** A listening unix socket this process inherited on {@code fd}; {@link #close()} leaves it to its owner. */
        public static Listener adopt(int fd) throws IOException {
            return new Listener(FileDescriptorCast.unsafeUsing(fd).as(AFUNIXServerSocketChannel.class), true,
                CLIENT_TIMEOUT, MAX_OPEN);
        }

        /** A socket of our own (tests, or running without systemd). */
        public static Listener bind(Path path) throws IOException {
            return bind(path, CLIENT_TIMEOUT, MAX_OPEN);
        }

        /** A socket of our own with another per-connection deadline and pool size (tests). */
        public static Listener bind(Path path, Duration deadline, int maxOpen) throws IOException {
            AFUNIXServerSocketChannel server = AFUNIXServerSocketChannel.open();
            try {
                server.bind(AFUNIXSocketAddress.of(path));
                return new Listener(server, false, deadline, maxOpen);
            } catch (IOException | RuntimeException e) {
                server.close();
                throw e;
            }
        }

        public long wakes() { return wakes.get(); }
        /** Connections closed without a wake: garbage, silence past the deadline, or shed for a newer one. */
        public long rejected() { return rejected.get(); }
        /** Of those, the ones closed to make room for a newer connection. */
        public long shed() { return shed.get(); }
        public long lastWakeNanos() { return lastWakeNanos; }

        /** Starts (or restarts) accepting; {@code onWake} runs for each valid wake line, after "ok" was sent. */
        public synchronized void start(Consumer<Wake> onWake) throws IOException {
            if (!selector.isOpen()) throw new IOException("wake socket listener is closed");
            stopping = false;
            acceptor = Threads.start("wake-acceptor", () -> acceptLoop(onWake));
        }

        private void acceptLoop(Consumer<Wake> onWake) {
            while (!stopping) {
                SocketChannel client;
                try {
                    selector.select(); // returns on a connection or stop()'s wakeup()
                    selector.selectedKeys().clear();
                    if (stopping) return;
                    client = server.accept();
                } catch (ClosedSelectorException | ClosedChannelException closed) {
                    if (!stopping) Log.error("wake socket closed under us: no more wakes this run");
                    return;
                } catch (IOException e) {
                    if (stopping) return;
                    Log.warn("wake socket: accept failed: %s", e.getMessage());
                    pause(100); // a persistent failure must not spin
                    continue;
                }
                if (client == null) continue; // spurious readiness: nothing pending after all
                Socket socket = client.socket();
                try {
                    client.configureBlocking(true); // read below with a deadline, on the client's own thread
                } catch (IOException e) {
                    rejected.incrementAndGet();
                    closeQuietly(socket, "unusable");
                    Log.debug("wake socket: client dropped: %s", e.getMessage());
                    continue;
                }
                Client c = admit(socket);
                Threads.start("wake-client", () -> handle(c, onWake));
            }
        }

        /** Registers a new connection, shedding the oldest one still silent when the pool is full. */
        private Client admit(Socket socket) {
            Client c = new Client(socket), victim = null;
            synchronized (open) {
                if (open.size() >= maxOpen) {
                    for (Client o : open) {
                        if (!o.answering) {
                            victim = o;
                            break;
                        }
                    }
                    if (victim != null) open.remove(victim);
                }
                open.addLast(c);
            }
            if (victim != null) {
                shed.incrementAndGet();
                closeQuietly(victim.socket, "shed");
            }
            return c;
        }

        private void release(Client c) {
            synchronized (open) {
                open.remove(c);
                open.notifyAll();
            }
        }

        private static void pause(long millis) {
            try {
                Thread.sleep(millis);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }

        private void handle(Client c, Consumer<Wake> onWake) {
            try (Socket client = c.socket) {
                String line = readLine(client, c.deadlineNanos);
                Wake wake = line == null ? null : parse(line);
                OutputStream out = client.getOutputStream();
                if (wake == null) {
                    rejected.incrementAndGet();
                    out.write("error: expected 'wake <stream> <group>'\n".getBytes(StandardCharsets.US_ASCII));
                    return;
                }
                synchronized (open) {
                    c.answering = true;
                }
                // Counted before "ok", so a client that got its answer has kept the consumer alive.
                lastWakeNanos = System.nanoTime();
                wakes.incrementAndGet();
                out.write("ok\n".getBytes(StandardCharsets.US_ASCII));
                out.flush();
                onWake.accept(wake);
            } catch (IOException e) {
                rejected.incrementAndGet();
                Log.debug("wake socket: client dropped: %s", e.getMessage());
            } finally {
                release(c);
            }
        }

        /**
         * One line of at most MAX_LINE bytes before {@code deadlineNanos}; null at EOF or past the limit; throws past
         * the deadline.
         */
        private static String readLine(Socket s, long deadlineNanos) throws IOException {
            InputStream in = s.getInputStream();
            byte[] buf = new byte[MAX_LINE];
            int n = 0;
            while (n < MAX_LINE) {
                long left = (deadlineNanos - System.nanoTime()) / 1_000_000;
                if (left <= 0) throw new SocketTimeoutException("no wake line within the deadline");
                s.setSoTimeout((int) Math.min(left, Integer.MAX_VALUE));
                int b = in.read();
                if (b < 0) return null;
                if (b == '\n') return new String(buf, 0, n, StandardCharsets.US_ASCII);
                buf[n++] = (byte) b;
            }
            return null;
        }

        private static void closeQuietly(Socket s, String why) {
            try {
                s.close();
            } catch (IOException e) {
                Log.debug("wake socket: closing a %s client failed: %s", why, e.getMessage());
            }
        }

        /**
         * Stops accepting and waits for the clients being served. The socket stays open and bound
         * (systemd owns it): connections arriving from now on wait in its backlog, and systemd
         * starts the service again for them. A caller about to exit compares {@link #wakes()}
         * before and after: a wake that came in meanwhile means start() again and keep running.
         */
        public synchronized void stop() throws InterruptedException {
            stopping = true;
            selector.wakeup();
            if (acceptor != null) acceptor.join(2_000);
            acceptor = null;
            long until = System.nanoTime() + deadline.toNanos() + 500_000_000L;
            synchronized (open) {
                for (long left; !open.isEmpty() && (left = until - System.nanoTime()) > 0; ) open.wait(Math.max(1, left
                    / 1_000_000));
            }
        }

        /**
         * Stops accepting. A socket of our own is closed; systemd's is left as it is, listening: our
         * descriptor goes when the process exits (a close(2), never a shutdown(2)).
         */
        @Override
        public synchronized void close() throws IOException {
            try {
                stop();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            selector.close(); // its own pipe; the channel stays open
            if (!adopted) server.close();
        }
    }
}
