import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.util.Arrays;
import nsq.BufferSize;
import nsq.Frame;
import nsq.FrameReader;
import nsq.HostPort;
import nsq.SizedOutput;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** A connection's buffers: 4 KiB while quiet, up to 64 KiB while traffic fills them, small again after. No nsqd. */
@Tag("unit")
class BufferSizeTest {
    static final HostPort PEER = new HostPort("127.0.0.1", 4150);
    static final long S = 1_000_000_000L;

    @Test void growsByDoublingToWhatIsNeededAtMost64KiBAndShrinksOnlyAfterTenQuietSeconds() {
        BufferSize b = new BufferSize();
        assertEquals(4096, b.size());
        assertEquals(4096, b.grow(4000, 0), "what fits needs nothing more");
        assertEquals(8192, b.grow(4097, 0));
        assertEquals(32768, b.grow(20_000, S));
        assertEquals(65536, b.grow(1 << 20, 2 * S), "never past 64 KiB, whatever a frame needs");
        assertFalse(b.shrink(11 * S), "9 s after the last large need");
        assertEquals(65536, b.grow(100, 11 * S), "small traffic neither grows it nor keeps it large");
        assertTrue(b.shrink(12 * S), "10 s after the last large need");
        assertEquals(4096, b.size());
        assertFalse(b.shrink(100 * S), "already small");
    }

    static byte[] message(int bodySize, byte fill) {
        byte[] data = new byte[Frame.MESSAGE_HEADER + bodySize];
        Arrays.fill(data, Frame.MESSAGE_HEADER, data.length, fill);
        return ByteBuffer.allocate(8 + data.length).putInt(4 + data.length).putInt(Frame.MESSAGE).put(data).array();
    }

    /** Many small frames in a row fill the buffer: it doubles until reads take 64 KiB at a time. */
    @Test void aReaderGrowsWhileFramesFillItsBuffer() throws Exception {
        ByteArrayOutputStream wire = new ByteArrayOutputStream();
        for (int i = 0; i < 2000; i++) wire.write(message(200, (byte) i));
        FrameReader r = FrameReader.growing(new ByteArrayInputStream(wire.toByteArray()), PEER, null,
            new BufferSize());
        assertEquals(4096, r.bufferSize(), "small until traffic needs more");
        for (int i = 0; i < 2000; i++) assertEquals((byte) i, r.read(1 << 20).body()[199]);
        assertEquals(65536, r.bufferSize());
    }

    /** A ~1 MiB body goes straight into its own array: the buffer does not grow for it, and the bytes are whole. */
    @Test void aLargeBodyIsReadIntoItsOwnArray() throws Exception {
        byte[] big = message(1 << 20, (byte) 7);
        FrameReader r = FrameReader.growing(new TrickleStream(big, 1500), PEER, null, new BufferSize());
        Frame f = r.read(2 << 20);
        assertEquals(1 << 20, f.body().length);
        byte[] sevens = new byte[1 << 20];
        Arrays.fill(sevens, (byte) 7);
        assertArrayEquals(sevens, f.body());
        assertEquals(4096, r.bufferSize(), "reads of 1,500 bytes never filled it");
    }

    /** After the quiet time, the next wait for a frame starts with the small buffer again. */
    @Test void aQuietReaderShrinksBeforeItWaitsAgain() throws Exception {
        ByteArrayOutputStream wire = new ByteArrayOutputStream();
        for (int i = 0; i < 200; i++) wire.write(message(200, (byte) 1));
        wire.write(message(10, (byte) 2));
        BufferSize quickly = new BufferSize(0);
        FrameReader r = FrameReader.growing(new ByteArrayInputStream(wire.toByteArray()), PEER, null, quickly);
        r.read(1 << 20);
        assertTrue(r.bufferSize() > 4096, "grown by the burst: " + r.bufferSize());
        for (int i = 1; i < 200; i++) r.read(1 << 20);
        assertEquals(2, r.read(1 << 20).body()[0], "the frame after the burst, read whole");
        assertEquals(4096, r.bufferSize(), "emptied and quiet: small again");
    }

    @Test void aWriterGrowsForBatchesPassesLargeWritesThroughAndShrinksWhenQuiet() throws Exception {
        ByteArrayOutputStream sink = new ByteArrayOutputStream();
        BufferSize quickly = new BufferSize(0);
        SizedOutput out = new SizedOutput(sink, quickly);
        byte[] fin = "FIN 0123456789abcdef\n".getBytes();
        for (int i = 0; i < 1000; i++) out.write(fin); // one batch: 21 KB
        assertEquals(32768, out.bufferSize());
        assertEquals(0, sink.size(), "a batch goes out with its flush");
        out.flush();
        assertEquals(21_000, sink.size());
        assertEquals(4096, out.bufferSize(), "quiet (time 0 here) after the flush: small again");
        byte[] body = new byte[1 << 20];
        Arrays.fill(body, (byte) 5);
        out.write('P');
        out.write(body);
        out.flush();
        byte[] all = sink.toByteArray();
        assertEquals(21_000 + 1 + (1 << 20), all.length);
        assertEquals('P', all[21_000]);
        assertEquals(5, all[all.length - 1]);
    }

    /** Hands out at most {@code step} bytes per read, as a socket under load does. */
    static final class TrickleStream extends InputStream {
        private final ByteArrayInputStream in;
        private final int step;

        TrickleStream(byte[] b, int step) {
            this.in = new ByteArrayInputStream(b);
            this.step = step;
        }

        @Override public int read() { return in.read(); }

        @Override public int read(byte[] b, int off, int len) { return in.read(b, off, Math.min(len, step)); }

        @Override public int available() { return Math.min(in.available(), step); }
    }
}
