package wake;

import cli.Log;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.function.Supplier;
import util.Errors;
import util.Json;
import util.Threads;

/**
 * The running wakeup's live state for {@code wakeup status}, on a unix socket under the socket dir,
 * {@code <socket-dir>/wakeup/status.sock}: a client connects and reads one JSON document
 * ({@link StatusReport.Live}); nothing it sends is read. No TCP port: the directory is made 0750 and
 * the socket 0660, so only the wakeup's user and group (mqueue under systemd) reach it. Under systemd
 * the directory is the unit's {@code RuntimeDirectory=mqueue/wakeup}: writable inside the sandbox and
 * removed when the wakeup stops. Serving status is never worth failing the wakeup for: when the
 * socket cannot be made it is said in one line and tried again at the next {@link #bind}.
 *
 * <p>Thread model: {@link #bind} is the scan loop's (it makes the socket and starts the server
 * thread once). The server thread accepts and answers one client at a time, each write with a
 * deadline, so a client that stops reading is dropped and nothing else waits for it. The document is
 * built from what the wake loop and the scan published (immutable snapshots), never from their state.
 */
public final class StatusServer implements AutoCloseable {
    public static final String DIR = "wakeup", SOCKET = "status.sock";
    /** A client that has not read the document by then is dropped. */
    static final Duration WRITE_DEADLINE = Duration.ofSeconds(2);
    /** What a client reads at most: 1,000 groups make ~300 KB. */
    public static final int MAX_DOCUMENT = 16 << 20;

    private final Path dir, path;
    private final Supplier<Object> document;
    private volatile ServerSocketChannel server;
    private volatile boolean closed;
    private Thread thread;
    private String lastProblem;   // the scan loop's: said once per change

    public StatusServer(Path socketDir, Supplier<Object> document) {
        this.dir = socketDir.resolve(DIR);
        this.path = dir.resolve(SOCKET);
        this.document = document;
    }

    public static Path path(Path socketDir) { return socketDir.resolve(DIR).resolve(SOCKET); }

    public Path path() { return path; }

    public boolean serving() { return server != null; }

    /** Makes the socket and starts serving, unless it serves already or the socket dir does not exist (yet). */
    public synchronized void bind() {
        if (server != null || closed || !Files.isDirectory(dir.getParent())) return;
        try {
            ServerSocketChannel s = open();
            if (s == null) return;
            server = s;
            thread = Threads.start("wakeup-status", this::serve);
            lastProblem = null;
            Log.info("status on %s (wakeup status)", path);
        } catch (IOException | UnsupportedOperationException e) {
            // Under systemd's ProtectSystem=strict /run is read-only but for the unit's RuntimeDirectory=.
            String why = e instanceof java.nio.file.FileSystemException f && f.getReason() == null
                // AccessDeniedException says only the path
                ? e.getClass().getSimpleName() + " " + f.getFile() : Errors.oneLine(e);
            problem(path + ": cannot make it (" + why
                + "); under systemd, mqueue-wakeup.service needs RuntimeDirectory=mqueue/wakeup (with "
                + "RuntimeDirectoryMode=0750) when the socket dir is /run/mqueue");
        }
    }

    /** The listening socket, or null (said) when another wakeup answers there or something else is in the way. */
    private ServerSocketChannel open() throws IOException {
        if (SocketDir.kind(dir) == SocketDir.Kind.MISSING) {
            Files.createDirectory(dir);
            Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-x---"));
        } else if (!Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS)) {
            problem(dir + " is not a directory (a symlink is not followed): no status socket; remove it");
            return null;
        }
        switch (SocketDir.kind(path)) {
            case MISSING -> { }
            case SOCKET -> {
                if (answers(path)) {
                    problem("another wakeup serves status on " + path
                        + ": not serving it here; one wakeup per socket dir");
                    return null;
                }
                Files.delete(path); // left by a wakeup that did not stop cleanly
            }
            default -> {
                problem(path + " exists and is not a socket: no status socket; remove it");
                return null;
            }
        }
        ServerSocketChannel s = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        try {
            s.bind(UnixDomainSocketAddress.of(path));
            Files.setPosixFilePermissions(path, PosixFilePermissions.fromString("rw-rw----"));
            return s;
        } catch (IOException | RuntimeException e) {
            s.close();
            throw e;
        }
    }

    private void problem(String line) {
        if (line.equals(lastProblem)) return;
        lastProblem = line;
        Log.warn("%s; `wakeup status` shows nsqd and the socket dir without this wakeup's own state", line);
    }

    private static boolean answers(Path socket) {
        try (SocketChannel c = SocketChannel.open(UnixDomainSocketAddress.of(socket))) {
            return true;
        } catch (IOException nobody) {
            return false;
        }
    }

    private void serve() {
        try (Selector writes = Selector.open()) {
            while (!closed) {
                SocketChannel client;
                try {
                    client = server.accept();
                } catch (ClosedChannelException stopped) { // close(): AsynchronousCloseException is one
                    return;
                } catch (IOException e) {
                    Log.warn("status on %s: accept failed: %s", path, Errors.oneLine(e));
                    Thread.sleep(100); // a failure that persists (out of file descriptors) must not spin
                    continue;
                }
                try (client) {
                    answer(client, writes);
                } catch (IOException | RuntimeException e) {
                    Log.debug("status: a client was dropped: %s", Errors.oneLine(e));
                }
            }
        } catch (IOException e) {
            Log.warn("status on %s stopped: %s", path, Errors.oneLine(e));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Writes the document within the deadline, without blocking past it. */
    private void answer(SocketChannel client, Selector writes) throws IOException {
        ByteBuffer out = ByteBuffer.wrap(Json.MAPPER.writeValueAsBytes(document.get()));
        client.configureBlocking(false);
        SelectionKey key = client.register(writes, SelectionKey.OP_WRITE);
        try {
            long deadline = System.nanoTime() + WRITE_DEADLINE.toNanos();
            while (true) {
                client.write(out);
                if (!out.hasRemaining()) return;
                long left = deadline - System.nanoTime();
                if (left <= 0) throw new IOException("the client read " + out.position() + " of " + out.limit()
                    + " bytes within " + WRITE_DEADLINE.toSeconds() + " s");
                writes.select(Math.max(1, left / 1_000_000));
                writes.selectedKeys().clear();
            }
        } finally {
            key.cancel();
            writes.selectNow(); // deregisters it before the channel is closed
        }
    }

    /** Stops serving and removes the socket (it is ours; under systemd its directory goes with the unit). */
    @Override
    public void close() throws InterruptedException {
        Thread t;
        synchronized (this) {
            closed = true;
            t = thread;
            if (server == null) return;
            try {
                server.close();
                Files.deleteIfExists(path);
            } catch (IOException e) {
                Log.debug("status socket %s: %s", path, Errors.oneLine(e));
            }
        }
        if (t != null) t.join(WRITE_DEADLINE.toMillis() + 1_000);
    }

    /**
     * Client: the document a running wakeup serves at {@code socket}; throws when none answers within {@code timeout}.
     */
    public static byte[] fetch(Path socket, Duration timeout) throws IOException {
        try (SocketChannel c = SocketChannel.open(StandardProtocolFamily.UNIX); Selector reads = Selector.open()) {
            c.connect(UnixDomainSocketAddress.of(socket)); // a unix socket: connected or refused at once
            c.configureBlocking(false);
            c.register(reads, SelectionKey.OP_READ);
            ByteArrayOutputStream doc = new ByteArrayOutputStream();
            ByteBuffer buf = ByteBuffer.allocate(64 * 1024);
            long deadline = System.nanoTime() + timeout.toNanos();
            while (true) {
                int n = c.read(buf);
                if (n < 0) return doc.toByteArray();
                if (n > 0) {
                    doc.write(buf.array(), 0, buf.position());
                    buf.clear();
                    if (doc.size() > MAX_DOCUMENT) throw new IOException(socket + ": more than " + MAX_DOCUMENT
                        + " bytes: not a wakeup's status");
                    continue;
                }
                long left = deadline - System.nanoTime();
                if (left <= 0) throw new java.net.SocketTimeoutException(socket + ": no status within "
                    + timeout.toSeconds() + " s");
                reads.select(Math.max(1, left / 1_000_000));
                reads.selectedKeys().clear();
            }
        }
    }
}
