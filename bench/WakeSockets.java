import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collection;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Stand-ins for many socket-activated groups: one listening unix socket per group (G.sock in one
 * directory), all served by one selector thread that reads the wake line, answers "ok" and
 * records when each group was last woken. What the wakeup sees is a real socket per group; no
 * consumer JVM starts, so the wakeup's own cost is what gets measured.
 */
final class WakeSockets implements AutoCloseable {
    private final Path dir;
    private final Selector selector;
    private final Map<String, Long> lastWake = new ConcurrentHashMap<>();
    private final AtomicLong wakes = new AtomicLong();
    private final Thread thread;
    private volatile boolean closed;

    WakeSockets(Path dir, Collection<String> groups) throws IOException {
        this.dir = dir;
        this.selector = Selector.open();
        for (String g : groups) {
            ServerSocketChannel s = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
            s.bind(UnixDomainSocketAddress.of(dir.resolve(g + ".sock")), 64);
            s.configureBlocking(false);
            s.register(selector, SelectionKey.OP_ACCEPT, g);
        }
        thread = new Thread(this::serve, "wake-sockets");
        thread.setDaemon(true);
        thread.start();
    }

    long wakes() { return wakes.get(); }

    /** When {@code group} was last woken (System.nanoTime), 0 if never. */
    long lastWake(String group) { return lastWake.getOrDefault(group, 0L); }

    private void serve() {
        while (!closed) {
            try {
                selector.select(200);
                for (var it = selector.selectedKeys().iterator(); it.hasNext(); ) {
                    SelectionKey k = it.next();
                    it.remove();
                    if (k.isAcceptable()) {
                        SocketChannel c = ((ServerSocketChannel) k.channel()).accept();
                        if (c == null) continue;
                        c.configureBlocking(false);
                        c.register(selector, SelectionKey.OP_READ, new Client((String) k.attachment()));
                    } else if (k.isReadable()) {
                        read(k);
                    }
                }
            } catch (IOException e) {
                if (!closed) System.err.println("bench: wake sockets: " + e.getMessage());
            }
        }
    }

    private record Client(String group, ByteBuffer line) {
        Client(String group) { this(group, ByteBuffer.allocate(256)); }
    }

    private void read(SelectionKey k) throws IOException {
        Client cl = (Client) k.attachment();
        SocketChannel c = (SocketChannel) k.channel();
        int n;
        try {
            n = c.read(cl.line());
        } catch (IOException reset) {
            n = -1;
        }
        String text = new String(cl.line().array(), 0, cl.line().position(), StandardCharsets.US_ASCII);
        if (text.indexOf('\n') >= 0) {
            if (text.startsWith("wake ")) {
                lastWake.put(cl.group(), System.nanoTime());
                wakes.incrementAndGet();
            }
            try {
                c.write(ByteBuffer.wrap("ok\n".getBytes(StandardCharsets.US_ASCII)));
            } catch (IOException gone) {
                // the wakeup gave up on this one; nothing to answer
            }
            k.cancel();
            c.close();
        } else if (n < 0 || !cl.line().hasRemaining()) {
            k.cancel();
            c.close();
        }
    }

    @Override
    public void close() throws IOException, InterruptedException {
        closed = true;
        selector.wakeup();
        thread.join(2_000);
        for (SelectionKey k : selector.keys()) k.channel().close();
        selector.close();
        try (var files = Files.list(dir)) {
            for (Path p : files.toList()) if (p.toString().endsWith(".sock")) Files.deleteIfExists(p);
        }
    }
}
