package util;

import java.io.IOException;
import java.math.BigDecimal;
import java.math.MathContext;
import java.net.InetSocketAddress;
import java.net.PortUnreachableException;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.Consumer;
import java.util.function.LongSupplier;

/**
 * Metrics to statsd over UDP in nsqd's convention (nsqd/statsd.go): every interval, counters as the
 * delta since the last interval ({@code name:N|c}), gauges as they are ({@code |g}), timers one line per
 * sample ({@code |ms}); lines end in a newline and are packed several to a datagram, each datagram at most
 * {@link #MAX_PACKET} bytes; a final flush on {@link #close}. Sending never blocks nor fails the tool:
 * the channel is non-blocking (a full socket buffer drops the datagram), and a statsd that is not
 * there costs nothing but the datagrams.
 *
 * <p>Thread model: one owner, the sender thread: it alone touches the channel, the totals last sent and
 * the packet being built, from start until {@link #close} has joined it (the final flush is its own
 * last act). Other threads only add to counters (LongAdders), record timings (each timer's lock does
 * arithmetic only, never I/O) and register metrics (a copy-on-write list).
 */
public final class Statsd implements AutoCloseable {
    /**
     * The usual statsd bound for a datagram on a 1,500-byte Ethernet MTU (IP and UDP headers and
     * room for options taken off): no fragmentation on the way. nsqd's own default is 508
     * (--statsd-udp-packet-size), the safe minimum for any path; a local or LAN statsd takes 1,432.
     */
    public static final int MAX_PACKET = 1432;

    /**
     * Timing samples kept per timer and interval (a uniform sample of them all); the lines carry
     * statsd's sample rate {@code |@r} when more came, so statsd still counts every one. A busy
     * handler (30k msg/s) would otherwise be 30k lines a second.
     */
    public static final int TIMER_SAMPLES = 200;

    private final String prefix;
    private final DatagramChannel channel;      // null when off
    private final long intervalNanos;
    private final Consumer<String> warn;
    private final List<Metric> metrics = new CopyOnWriteArrayList<>();
    private final CountDownLatch closing = new CountDownLatch(1);
    private final Thread sender;
    // Written by the sender only; read by tests and logs.
    private volatile long packets, unreachable, dropped;

    // The sender's own.
    private final ByteBuffer packet = ByteBuffer.allocate(MAX_PACKET);
    private String lastError;

    private Statsd(String prefix, DatagramChannel channel, Duration interval, Consumer<String> warn) {
        this.prefix = prefix;
        this.channel = channel;
        this.intervalNanos = interval.toNanos();
        this.warn = warn;
        this.sender = channel == null ? null : Threads.daemon("statsd", this::run);
    }

    /** Counters that count and are never sent: a tool run without --statsd-address. */
    public static Statsd off() { return new Statsd("", null, Duration.ofSeconds(60), w -> { }); }

    /**
     * Sends to {@code target} (resolved already: the name is looked up once, at start) every {@code interval};
     * {@code prefix} goes before every name as it is ("" for none). {@code warn} hears a send that failed
     * other than by nothing listening (once until one succeeds again).
     */
    public static Statsd start(InetSocketAddress target, String prefix, Duration interval, Consumer<String> warn)
            throws IOException {
        DatagramChannel ch = DatagramChannel.open();
        try {
            ch.configureBlocking(false);
            // Connected, as nsqd's net.Dial("udp"): the kernel then filters what comes back and reports an ICMP
            // port unreachable on the next send, which we read and ignore (see send).
            ch.connect(target);
        } catch (IOException | RuntimeException e) {
            ch.close();
            throw e;
        }
        Statsd s = new Statsd(prefix, ch, interval, warn);
        s.sender.start();
        return s;
    }

    public boolean enabled() { return channel != null; }

    /** A counter: what is added to it goes out as deltas. */
    public LongAdder counter(String name) {
        LongAdder a = new LongAdder();
        total(name, a::sum);
        return a;
    }

    /** A counter kept elsewhere as a running total: sent as its change since the last interval, as nsqd does. */
    public void total(String name, LongSupplier total) { if (enabled()) metrics.add(new Total(name, total)); }

    /** A gauge: its value at each interval (never negative: statsd reads a leading '-' as "subtract"). */
    public void gauge(String name, LongSupplier value) { if (enabled()) metrics.add(new Gauge(name, value)); }

    /** A timer: each {@link Timer#record} is a sample in milliseconds. */
    public Timer timer(String name) {
        Timer t = new Timer(name, enabled());
        if (enabled()) metrics.add(t);
        return t;
    }

    /** Datagrams sent; refused by the peer's host (ICMP port unreachable: nothing listens); dropped. */
    public long packets() { return packets; }
    public long unreachable() { return unreachable; }
    public long dropped() { return dropped; }

    /** Stops the sender after a last flush (bounded: the sends never block); then nothing is sent. */
    @Override
    public void close() throws InterruptedException {
        if (sender == null) return;
        closing.countDown();
        sender.join(5_000);
    }

    private void run() {
        long next = System.nanoTime() + intervalNanos;
        try {
            while (!closing.await(next - System.nanoTime(), TimeUnit.NANOSECONDS)) {
                flush();
                next = Math.max(next + intervalNanos, System.nanoTime()); // a late tick is not made up for
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt(); // still the last flush below
        }
        flush();
        try {
            channel.close();
        } catch (IOException e) {
            warn.accept("statsd: closing the socket: " + Errors.oneLine(e));
        }
    }

    /** One interval's lines, packed into datagrams. */
    private void flush() {
        packet.clear();
        for (Metric m : metrics) m.lines(this);
        if (packet.position() > 0) send();
    }

    /** Appends one line, sending the packet first when it would not fit. */
    private void line(String name, String value, String type, String rate) {
        String text = prefix + name + ":" + value + "|" + type + (rate == null ? "" : "|@" + rate) + "\n";
        byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
        if (bytes.length > MAX_PACKET) return; // cannot be: names and the prefix are bounded far below
        if (bytes.length > packet.remaining()) send();
        packet.put(bytes);
    }

    private void send() {
        packet.flip();
        try {
            if (channel.write(packet) == 0) dropped++; // the socket buffer is full: dropped, never waited for
            else packets++;
            lastError = null;
        } catch (PortUnreachableException e) {
            // On purpose: an earlier datagram came back as ICMP port unreachable (statsd is not running, or
            // not yet). That is statsd's business, not the tool's; this datagram is lost, and the next ones go
            // out as usual, so metrics resume when statsd starts listening.
            unreachable++;
        } catch (IOException e) {
            // No route, no such interface: said once, then quiet until a send succeeds again.
            String why = Errors.oneLine(e);
            if (!why.equals(lastError)) {
                warn.accept("statsd: sending to " + address() + " failed: " + why + "; metrics are dropped");
            }
            lastError = why;
            dropped++;
        }
        packet.clear();
    }

    private String address() {
        try {
            return String.valueOf(channel.getRemoteAddress());
        } catch (IOException e) {
            return "statsd";
        }
    }

    /** Milliseconds as statsd reads them: an integer when whole, else up to 3 decimals. */
    static String millis(double ms) {
        if (ms == Math.rint(ms) && Math.abs(ms) < 1e15) return Long.toString((long) ms);
        return new BigDecimal(ms).setScale(3, java.math.RoundingMode.HALF_UP).stripTrailingZeros().toPlainString();
    }

    /** A sample rate in (0, 1), six significant digits, plain (never 2.0E-4). */
    static String rate(double r) {
        return new BigDecimal(r).round(new MathContext(6)).stripTrailingZeros().toPlainString();
    }

    private abstract static class Metric {
        final String name;

        Metric(String name) { this.name = name; }

        /** On the sender thread: this interval's lines. */
        abstract void lines(Statsd out);
    }

    private static final class Total extends Metric {
        private final LongSupplier total;
        private long last; // the sender's

        Total(String name, LongSupplier total) {
            super(name);
            this.total = total;
        }

        @Override void lines(Statsd out) {
            long now = total.getAsLong();
            out.line(name, Long.toString(now - last), "c", null); // 0 too, as nsqd: a quiet interval is a point
            last = now;
        }
    }

    private static final class Gauge extends Metric {
        private final LongSupplier value;

        Gauge(String name, LongSupplier value) {
            super(name);
            this.value = value;
        }

        @Override void lines(Statsd out) { out.line(name, Long.toString(Math.max(0, value.getAsLong())), "g", null); }
    }

    /** Timing samples of one interval: a uniform sample of at most {@link #TIMER_SAMPLES} (reservoir sampling). */
    public static final class Timer extends Metric {
        private final boolean sent;
        private double[] kept = new double[TIMER_SAMPLES];
        private long seen; // this interval's samples; under this

        Timer(String name, boolean sent) {
            super(name);
            this.sent = sent;
        }

        /** A sample, in milliseconds. Any thread; a few arithmetic steps under this timer's lock (none when off). */
        public void record(double ms) {
            if (!sent) return;
            synchronized (this) {
                long i = seen++;
                if (i < TIMER_SAMPLES) {
                    kept[(int) i] = ms;
                } else {
                    long j = ThreadLocalRandom.current().nextLong(i + 1);
                    if (j < TIMER_SAMPLES) kept[(int) j] = ms;
                }
            }
        }

        public void recordNanos(long nanos) { record(nanos / 1e6); }

        @Override void lines(Statsd out) {
            double[] samples;
            long n;
            synchronized (this) {
                samples = kept;
                n = seen;
                if (n == 0) return;
                kept = new double[TIMER_SAMPLES];
                seen = 0;
            }
            int k = (int) Math.min(n, TIMER_SAMPLES);
            String rate = k < n ? rate((double) k / n) : null;
            for (int i = 0; i < k; i++) out.line(name, millis(samples[i]), "ms", rate);
        }
    }
}
