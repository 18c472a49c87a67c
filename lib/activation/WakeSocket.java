package activation;

import cli.Log;
import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import nsq.Names;
import org.newsclub.net.unix.AFUNIXServerSocket;
import org.newsclub.net.unix.AFUNIXSocket;
import org.newsclub.net.unix.AFUNIXSocketAddress;
import org.newsclub.net.unix.FileDescriptorCast;
import util.Threads;

/**
 * The wake protocol on a group's unix socket: the client writes {@code wake <stream> <group>\n},
 * the consumer answers {@code ok\n} and both close. The consumer side takes the listening socket
 * systemd passed as fd 3; wakeup.java is the client.
 */
public final class WakeSocket {
    public static final int SD_LISTEN_FDS_START = 3;
    /** A wake line is short; anything longer is garbage and is not read further. */
    public static final int MAX_LINE = 256;
    /** How long one client may take to send its line. */
    public static final Duration CLIENT_TIMEOUT = Duration.ofSeconds(1);

    private WakeSocket() {}

    public record Wake(String stream, String group) {
        public String line() { return "wake " + stream + " " + group; }
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

    /** Parses a wake line; null when it is anything else. */
    public static Wake parse(String line) {
        String[] parts = line.strip().split(" ");
        if (parts.length != 3 || !parts[0].equals("wake") || !Names.isValid(parts[1]) || !Names.isValid(parts[2])) return null;
        return new Wake(parts[1], parts[2]);
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
     * Server: accepts every wake connection for the whole run, each on a small pool with a
     * deadline, so garbage or a silent client cannot stall the accept loop or the consumer.
     */
    public static final class Listener implements Closeable {
        private final AFUNIXServerSocket server;
        private ExecutorService handlers;
        private final AtomicLong wakes = new AtomicLong(), rejected = new AtomicLong();
        private volatile long lastWakeNanos;
        private volatile boolean stopping;
        private Thread acceptor;

        private Listener(AFUNIXServerSocket server) throws IOException {
            this.server = server;
            server.setDeleteOnClose(false); // the socket belongs to systemd: never unlink it
        }

        /** The listening socket systemd passed as fd 3. */
        public static Listener fromSystemd() throws IOException {
            return new Listener(FileDescriptorCast.unsafeUsing(SD_LISTEN_FDS_START).as(AFUNIXServerSocket.class));
        }

        /** A socket of our own (tests, or running without systemd). */
        public static Listener bind(Path path) throws IOException {
            return new Listener(AFUNIXServerSocket.bindOn(AFUNIXSocketAddress.of(path)));
        }

        public long wakes() { return wakes.get(); }
        public long rejected() { return rejected.get(); }
        public long lastWakeNanos() { return lastWakeNanos; }

        /** Starts (or restarts) accepting; {@code onWake} runs for each valid wake line, after "ok" was sent. */
        public synchronized void start(Consumer<Wake> onWake) throws IOException {
            stopping = false;
            handlers = new ThreadPoolExecutor(1, 4, 5, TimeUnit.SECONDS, new LinkedBlockingQueue<>(16), Threads.daemons("wake-handler"));
            server.setSoTimeout(200); // lets the loop notice stop() without closing the socket
            acceptor = Threads.start("wake-acceptor", () -> acceptLoop(onWake));
        }

        private void acceptLoop(Consumer<Wake> onWake) {
            while (!stopping) {
                Socket client;
                try {
                    client = server.accept();
                } catch (SocketTimeoutException idle) {
                    continue;
                } catch (IOException e) {
                    if (stopping) return;
                    if (server.isClosed()) {
                        // Nothing more will arrive; the idle timeout ends the run as usual.
                        Log.error("wake socket closed under us (%s): no more wakes this run", e.getMessage());
                        return;
                    }
                    Log.warn("wake socket: accept failed: %s", e.getMessage());
                    pause(100); // a persistent failure must not spin
                    continue;
                }
                try {
                    handlers.execute(() -> handle(client, onWake));
                } catch (RejectedExecutionException busy) {
                    rejected.incrementAndGet();
                    closeQuietly(client, "busy");
                }
            }
        }

        private static void pause(long millis) {
            try {
                Thread.sleep(millis);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }

        private void handle(Socket client, Consumer<Wake> onWake) {
            try (client) {
                client.setSoTimeout((int) CLIENT_TIMEOUT.toMillis());
                String line = readLine(client.getInputStream(), MAX_LINE);
                Wake wake = line == null ? null : parse(line);
                OutputStream out = client.getOutputStream();
                if (wake == null) {
                    rejected.incrementAndGet();
                    out.write("error: expected 'wake <stream> <group>'\n".getBytes(StandardCharsets.US_ASCII));
                    return;
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
            }
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
            if (acceptor != null) acceptor.join(2_000);
            acceptor = null;
            if (handlers != null) {
                handlers.shutdown();
                handlers.awaitTermination(CLIENT_TIMEOUT.toMillis() + 500, TimeUnit.MILLISECONDS);
            }
        }

        /** Closes our descriptor only: no shutdown(), no unlink, so systemd keeps listening. */
        @Override
        public void close() throws IOException {
            try {
                stop();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            server.close();
        }
    }
}
