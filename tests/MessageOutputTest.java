import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import consume.MessageOutput;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import nsq.HostPort;
import nsq.subscribe.Message;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Printing for consumer.java without --exec: a FIN only after its line was flushed, no thread waits
 * for another connection's FIN, stdout's failure hands everything back. Stdout and the connections
 * are recorders; no nsqd.
 */
@Tag("unit")
class MessageOutputTest {
    static final Duration BOUND = Duration.ofSeconds(30);

    /** Stdout: what was flushed so far; flushes can be held at gates (the first flush at the first, ...), or fail. */
    static final class Stdout extends OutputStream {
        private final ByteArrayOutputStream buffered = new ByteArrayOutputStream();
        private final StringBuilder flushed = new StringBuilder();
        final LinkedBlockingQueue<CountDownLatch> gates = new LinkedBlockingQueue<>();
        final Semaphore entered = new Semaphore(0);  // a permit per flush begun
        volatile boolean broken;
        final AtomicInteger flushes = new AtomicInteger();

        @Override public synchronized void write(int b) throws IOException {
            if (broken) throw new IOException("Broken pipe");
            buffered.write(b);
        }

        @Override public synchronized void write(byte[] b, int off, int len) throws IOException {
            if (broken) throw new IOException("Broken pipe");
            buffered.write(b, off, len);
        }

        @Override public void flush() throws IOException {
            entered.release();
            CountDownLatch g = gates.poll();
            if (g != null) await(g);
            if (broken) throw new IOException("Broken pipe");
            synchronized (this) {
                flushed.append(buffered.toString(StandardCharsets.UTF_8));
                buffered.reset();
            }
            flushes.incrementAndGet();
        }

        synchronized List<String> lines() {
            return flushed.length() == 0 ? List.of() : List.of(flushed.toString().split("\n"));
        }

        void awaitFlushBegun() throws InterruptedException {
            assertTrue(entered.tryAcquire(BOUND.toMillis(), TimeUnit.MILLISECONDS), "a flush of stdout began");
        }
    }

    /**
     * One connection: FIN and REQ recorded, each FIN checked against what stdout had flushed; a FIN can be held at a
     * gate.
     */
    static final class Connection implements Message.Delegate {
        final Stdout stdout;
        final List<String> fins = Collections.synchronizedList(new ArrayList<>()),
            reqs = Collections.synchronizedList(new ArrayList<>());
        final List<String> finBeforeItsLine = Collections.synchronizedList(new ArrayList<>());
        volatile CountDownLatch gate;
        final CountDownLatch finishing = new CountDownLatch(1);
        private final AtomicInteger next = new AtomicInteger();
        final String name;

        Connection(String name, Stdout stdout) {
            this.name = name;
            this.stdout = stdout;
        }

        Message message() {
            String body = name + next.getAndIncrement();
            byte[] id = String.format("%16s", body).getBytes(StandardCharsets.US_ASCII);
            return new Message(this, id, 1, 0, body.getBytes(StandardCharsets.US_ASCII));
        }

        @Override public void finish(Message m) {
            finishing.countDown();
            CountDownLatch g = gate;
            if (g != null) await(g);
            String body = new String(m.body(), StandardCharsets.US_ASCII);
            if (!stdout.lines().contains(body)) finBeforeItsLine.add(body);
            fins.add(body);
        }

        @Override public void requeue(Message m, Duration d) { reqs.add(new String(m.body(),
            StandardCharsets.US_ASCII)); }
        @Override public void touch(Message m) {}
        @Override public String topic() { return "s"; }
        @Override public HostPort address() { return new HostPort("127.0.0.1", 4150); }
    }

    /** The consumer's side: what was printed, handed back, and whether it was told to stop. */
    static final class Outcome implements MessageOutput.Listener {
        final List<Message> printed = Collections.synchronizedList(new ArrayList<>()),
            notPrinted = Collections.synchronizedList(new ArrayList<>());
        final AtomicInteger failures = new AtomicInteger();

        @Override public void printed(List<Message> ms) { printed.addAll(ms); }
        @Override public void notPrinted(Message m) {
            notPrinted.add(m);
            m.requeue(Duration.ZERO);
        }
        @Override public void outputFailed() { failures.incrementAndGet(); }
    }

    static void await(CountDownLatch l) {
        try {
            if (!l.await(BOUND.toMillis(), TimeUnit.MILLISECONDS)) throw new AssertionError("gate not opened within "
                + BOUND);
        } catch (InterruptedException e) {
            throw new AssertionError(e);
        }
    }

    /**
     * Runs {@code body} on a thread of its own (a reader: one connection's thread) and waits for it within the bound.
     */
    static void onReader(String name, Runnable body) throws InterruptedException {
        Thread t = start(name, body);
        t.join(BOUND.toMillis());
        assertFalse(t.isAlive(), name + " did not finish within " + BOUND
            + ": it waited for something it must not wait for");
    }

    static Thread start(String name, Runnable body) {
        Thread t = new Thread(body, name);
        t.setDaemon(true);
        t.start();
        return t;
    }

    @Test void aMessageIsFinishedOnlyAfterItsLineWasFlushed() throws Exception {
        Stdout out = new Stdout();
        Connection c = new Connection("a", out);
        Outcome o = new Outcome();
        MessageOutput output = new MessageOutput(out, MessageOutput.Format.raw, "g", o);
        onReader("reader", () -> {
            for (int i = 0; i < 3; i++) output.print("s", c.message());
            assertEquals(List.of(), c.fins, "nothing finished before the flush");
            output.flush(true);
        });
        assertEquals(List.of("a0", "a1", "a2"), out.lines());
        assertEquals(List.of("a0", "a1", "a2"), c.fins);
        assertEquals(List.of(), c.finBeforeItsLine);
        assertEquals(3, o.printed.size());
        assertEquals(1, out.flushes.get(), "one flush for the burst");
    }

    @Test void aFullBatchIsWrittenWithoutWaitingForTheBurstToEnd() throws Exception {
        Stdout out = new Stdout();
        Connection c = new Connection("a", out);
        MessageOutput output = new MessageOutput(out, MessageOutput.Format.raw, "g", new Outcome());
        onReader("reader", () -> {
            for (int i = 0; i < 256; i++) output.print("s", c.message());
        });
        assertEquals(256, out.lines().size());
        assertEquals(256, c.fins.size());
        assertEquals(List.of(), c.finBeforeItsLine);
    }

    /** One nsqd that stops reading holds up its own reader only: before, the flush held the lock through that FIN. */
    @Test void aReaderNeverWaitsForAnotherConnectionsFin() throws Exception {
        Stdout out = new Stdout();
        Connection stuck = new Connection("x", out), fine = new Connection("y", out);
        stuck.gate = new CountDownLatch(1);
        MessageOutput output = new MessageOutput(out, MessageOutput.Format.raw, "g", new Outcome());
        Thread x = start("reader-x", () -> {
            output.print("s", stuck.message());
            output.flush(true);
        });
        assertTrue(stuck.finishing.await(BOUND.toMillis(), TimeUnit.MILLISECONDS), "x's FIN is on its way and stuck");
        onReader("reader-y", () -> {
            output.print("s", fine.message());
            output.flush(true);
        });
        assertEquals(List.of("y0"), fine.fins, "y printed and finished while x's FIN is stuck");
        assertEquals(List.of("x0", "y0"), out.lines());
        stuck.gate.countDown();
        x.join(BOUND.toMillis());
        assertEquals(List.of("x0"), stuck.fins);
    }

    /** Stdout that blocks stops every reader's output (it is one stream), but queueing a line never waits for it. */
    @Test void printingNeverWaitsForAWriteInProgress() throws Exception {
        Stdout out = new Stdout();
        CountDownLatch gate = new CountDownLatch(1);
        out.gates.add(gate);
        Connection a = new Connection("a", out), b = new Connection("b", out);
        MessageOutput output = new MessageOutput(out, MessageOutput.Format.raw, "g", new Outcome());
        Thread writer = start("reader-a", () -> {
            output.print("s", a.message());
            output.flush(true);
        });
        out.awaitFlushBegun();
        CountDownLatch queued = new CountDownLatch(1), burstEnds = new CountDownLatch(1);
        Thread waiting = start("reader-b", () -> {
            output.print("s", b.message());
            queued.countDown();
            await(burstEnds);
            output.flush(true);
        });
        assertTrue(queued.await(BOUND.toMillis(), TimeUnit.MILLISECONDS),
            "b queued its line while a's write is stuck in stdout");
        burstEnds.countDown();
        gate.countDown();
        writer.join(BOUND.toMillis());
        waiting.join(BOUND.toMillis());
        assertFalse(writer.isAlive() || waiting.isAlive());
        assertEquals(List.of("a0", "b0"), out.lines(), "in the order they were queued");
        assertEquals(List.of(), a.finBeforeItsLine);
        assertEquals(List.of(), b.finBeforeItsLine);
    }

    /** Each reader answers its own connection's messages; the drain, which prints nothing, answers what is left. */
    @Test void eachReaderFinishesItsOwnAndTheDrainTheRest() throws Exception {
        Stdout out = new Stdout();
        Connection one = new Connection("p", out), two = new Connection("q", out);
        Outcome o = new Outcome();
        MessageOutput output = new MessageOutput(out, MessageOutput.Format.raw, "g", o);
        onReader("reader-p", () -> output.print("s", one.message()));
        onReader("reader-q", () -> {
            output.print("s", two.message());
            output.flush(true);
        });
        assertEquals(List.of("p0", "q0"), out.lines(), "one write carried both readers' lines");
        assertEquals(List.of("q0"), two.fins);
        assertEquals(List.of(), one.fins, "p's FIN waits for p's reader");
        output.flush(true); // the drain, on a thread that printed nothing
        assertEquals(List.of("p0"), one.fins);
        assertEquals(2, o.printed.size());
        assertTrue(output.close());
    }

    /**
     * Two readers wait for a write; one of them writes both their lines next. The other must not return
     * (and then wait for nsqd) until its line is on stdout and its FIN sent.
     */
    @Test void aReadersBurstEndReturnsOnlyOnceItsLinesAreAnswered() throws Exception {
        Stdout out = new Stdout();
        CountDownLatch firstWrite = new CountDownLatch(1), secondWrite = new CountDownLatch(1);
        out.gates.add(firstWrite);
        out.gates.add(secondWrite);
        Connection a = new Connection("a", out), b = new Connection("b", out), c = new Connection("c", out);
        MessageOutput output = new MessageOutput(out, MessageOutput.Format.raw, "g", new Outcome());
        Thread ta = start("reader-a", () -> {
            output.print("s", a.message());
            output.flush(true);
        });
        out.awaitFlushBegun();
        CountDownLatch queued = new CountDownLatch(2);
        List<Thread> waiting = new ArrayList<>();
        for (Connection conn : List.of(b, c)) {
            waiting.add(start("reader-" + conn.name, () -> {
                output.print("s", conn.message());
                queued.countDown();
                output.flush(true);
            }));
        }
        assertTrue(queued.await(BOUND.toMillis(), TimeUnit.MILLISECONDS));
        firstWrite.countDown();
        out.awaitFlushBegun(); // b or c writes both lines, and is held in stdout
        for (Thread t : waiting) {
            // a thread that returned early would be gone by now; one that waits stays, whatever the machine's speed
            t.join(200);
            assertTrue(t.isAlive(), t.getName() + " returned before its line was on stdout and its FIN sent");
        }
        assertEquals(List.of(), b.fins);
        assertEquals(List.of(), c.fins);
        secondWrite.countDown();
        for (Thread t : waiting) t.join(BOUND.toMillis());
        ta.join(BOUND.toMillis());
        assertEquals(List.of("b0"), b.fins);
        assertEquals(List.of("c0"), c.fins);
        assertEquals(List.of(), b.finBeforeItsLine);
        assertEquals(List.of(), c.finBeforeItsLine);
    }

    @Test void stdoutFailingHandsEverythingBackOnce() throws Exception {
        Stdout out = new Stdout();
        Connection c = new Connection("a", out);
        Outcome o = new Outcome();
        MessageOutput output = new MessageOutput(out, MessageOutput.Format.raw, "g", o);
        onReader("reader", () -> {
            output.print("s", c.message());
            output.print("s", c.message());
            out.broken = true;
            output.flush(true);
            output.print("s", c.message());
            output.flush(true);
        });
        assertEquals(1, o.failures.get(), "told to stop once");
        assertEquals(List.of("a0", "a1", "a2"), c.reqs, "every message went back");
        assertEquals(List.of(), c.fins);
        assertTrue(output.failed());
        assertFalse(output.close());
    }
}
