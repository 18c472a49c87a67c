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
import java.time.Duration;
import java.util.Collection;
import java.util.Comparator;
import java.util.Map;
import java.util.PriorityQueue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Stand-ins for many socket-activated groups: one listening unix socket per group (G.sock in one
 * directory), all served by one selector thread that reads the wake line, answers "ok" (after
 * {@code answerDelay}, as a consumer's cold start would) and records when each group was last woken
 * and how many wake connections were open at once. What the wakeup sees is a real socket per group;
 * no consumer JVM starts, so the wakeup's own cost is what gets measured. Used by the wakeup's tests
 * at a thousand groups and by bench/WakeupScale.java (which names this file in its //SOURCES).
 */
final class WakeSockets implements AutoCloseable {
    private final Path dir;
    private final Duration answerDelay;
    private final Selector selector;
    private final Map<String, Long> lastWake = new ConcurrentHashMap<>();
    private final java.util.Queue<String> lines = new java.util.concurrent.ConcurrentLinkedQueue<>();
    private final AtomicLong wakes = new AtomicLong(), open = new AtomicLong(), maxOpen = new AtomicLong();
    // the selector thread's
    private final PriorityQueue<Answer> answers = new PriorityQueue<>(Comparator.comparingLong(Answer::at));
    private final Thread thread;
    private volatile boolean closed;

    WakeSockets(Path dir, Collection<String> groups) throws IOException { this(dir, groups, Duration.ZERO); }

    WakeSockets(Path dir, Collection<String> groups, Duration answerDelay) throws IOException {
        this.dir = dir;
        this.answerDelay = answerDelay;
        this.selector = Selector.open();
        for (String g : groups) {
            ServerSocketChannel s = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
            s.bind(UnixDomainSocketAddress.of(dir.resolve(g + ".sock")), 1024);
            s.configureBlocking(false);
            s.register(selector, SelectionKey.OP_ACCEPT, g);
        }
        thread = new Thread(this::serve, "wake-sockets");
        thread.setDaemon(true);
        thread.start();
    }

    long wakes() { return wakes.get(); }

    /** The most wake connections that were open at once (accepted, not yet answered and closed). */
    long maxOpen() { return maxOpen.get(); }

    /** Every wake line received so far, in order. */
    java.util.List<String> lines() { return java.util.List.copyOf(lines); }

    /** When {@code group} was last woken (System.nanoTime), 0 if never. */
    long lastWake(String group) { return lastWake.getOrDefault(group, 0L); }

    private record Answer(long at, SelectionKey key) {}

    private void serve() {
        while (!closed) {
            try {
                Answer next = answers.peek();
                long wait = next == null ? 200 : Math.max(1, (next.at() - System.nanoTime()) / 1_000_000);
                selector.select(wait);
                for (var it = selector.selectedKeys().iterator(); it.hasNext(); ) {
                    SelectionKey k = it.next();
                    it.remove();
                    if (!k.isValid()) continue;
                    if (k.isAcceptable()) {
                        SocketChannel c = ((ServerSocketChannel) k.channel()).accept();
                        if (c == null) continue;
                        maxOpen.accumulateAndGet(open.incrementAndGet(), Math::max);
                        c.configureBlocking(false);
                        c.register(selector, SelectionKey.OP_READ, new Client((String) k.attachment()));
                    } else if (k.isReadable()) {
                        read(k);
                    }
                }
                for (long now = System.nanoTime(); !answers.isEmpty() && answers.peek().at()
                    - now <= 0; ) answer(answers.poll().key());
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
                lines.add(text.strip());
                lastWake.put(cl.group(), System.nanoTime());
                wakes.incrementAndGet();
            }
            k.interestOps(0);
            if (answerDelay.isZero()) answer(k);
            else answers.add(new Answer(System.nanoTime() + answerDelay.toNanos(), k));
        } else if (n < 0 || !cl.line().hasRemaining()) {
            drop(k);
        }
    }

    private void answer(SelectionKey k) throws IOException {
        try {
            ((SocketChannel) k.channel()).write(ByteBuffer.wrap("ok\n".getBytes(StandardCharsets.US_ASCII)));
        } catch (IOException gone) {
            // the wakeup gave up on this one; nothing to answer
        }
        drop(k);
    }

    private void drop(SelectionKey k) throws IOException {
        k.cancel();
        k.channel().close();
        open.decrementAndGet();
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
