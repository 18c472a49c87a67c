import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import events.ProducerEvents;
import nsq.Batch;
import nsq.Command;
import nsq.Frame;
import nsq.FrameReader;
import nsq.HostPort;
import nsq.Identify;
import nsq.NsqException;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import util.Json;

/** NSQ's wire format as the client writes and reads it: commands byte for byte, frames and their bounds. No nsqd. */
@Tag("unit")
class WireTest {
    static final HostPort PEER = new HostPort("127.0.0.1", 4151);
    static final byte[] ID = "0123456789abcdef".getBytes(StandardCharsets.US_ASCII);

    static String ascii(byte[] b) { return new String(b, StandardCharsets.ISO_8859_1); }

    @Test void smallCommandsAreOneLine() {
        assertEquals("  V2", ascii(Command.MAGIC_V2));
        assertEquals("SUB orders audit#ephemeral\n", ascii(Command.sub("orders", "audit#ephemeral")));
        assertEquals("RDY 2500\n", ascii(Command.rdy(2500)));
        assertEquals("FIN 0123456789abcdef\n", ascii(Command.fin(ID)));
        assertEquals("REQ 0123456789abcdef 1500\n", ascii(Command.req(ID, 1500)));
        assertEquals("TOUCH 0123456789abcdef\n", ascii(Command.touch(ID)));
        assertEquals("NOP\n", ascii(Command.NOP));
        assertEquals("CLS\n", ascii(Command.CLS));
    }

    @Test void commandsWithABodyCarryItsSize() throws Exception {
        assertEquals("IDENTIFY\n\0\0\0\2{}", ascii(Command.identify("{}".getBytes(StandardCharsets.US_ASCII))));
        assertEquals("AUTH\n\0\0\0\3abc", ascii(Command.auth("abc".getBytes(StandardCharsets.US_ASCII))));
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        Command.pub(new DataOutputStream(b), "t", new byte[] {1, 2});
        assertEquals("PUB t\n\0\0\0\2\1\2", ascii(b.toByteArray()));
        b.reset();
        Command.dpub(new DataOutputStream(b), "t", 3000, new byte[] {9});
        assertEquals("DPUB t 3000\n\0\0\0\1\11", ascii(b.toByteArray()));
        b.reset();
        List<byte[]> two = List.of(new byte[] {7}, new byte[] {8, 8});
        Command.mpub(new DataOutputStream(b), "t", two);
        // size = 4 (count) + (4 + 1) + (4 + 2) = 15; then count 2; then each size and bytes
        assertEquals("MPUB t\n\0\0\0\17\0\0\0\2\0\0\0\1\7\0\0\0\2\10\10", ascii(b.toByteArray()));
        assertEquals(15, Command.mpubBodySize(two));
    }

    static byte[] frame(int type, byte[] data) {
        return ByteBuffer.allocate(8 + data.length).putInt(4 + data.length).putInt(type).put(data).array();
    }

    static Frame read(byte[] wire, int limit) throws Exception {
        return new FrameReader(new ByteArrayInputStream(wire), PEER, 64).read(limit);
    }

    /**
     * producer.java's batches are written into the connection as they go; the wire must be what arrays of the events
     * would give.
     */
    @Test void generatedBatchesAreFramedLikeTheirEvents() throws Exception {
        for (Integer size : java.util.Arrays.asList(null, 200, 10, 100_000)) {
            for (int keys : List.of(10, 100)) {
                ProducerEvents events = new ProducerEvents("s", 1, keys, size);
                Batch batch = events.batch(98, 5); // seq 98..102: the digits grow inside the batch
                ByteArrayOutputStream b = new ByteArrayOutputStream();
                Command.mpub(new DataOutputStream(b), "t", batch);
                ByteBuffer wire = ByteBuffer.wrap(b.toByteArray());
                byte[] line = new byte[7];
                wire.get(line);
                assertEquals("MPUB t\n", ascii(line));
                assertEquals(Command.mpubBodySize(batch), wire.getInt(), "MPUB's size field");
                assertEquals(5, wire.getInt());
                long bytes = 0;
                for (int i = 0; i < 5; i++) {
                    byte[] body = new byte[wire.getInt()];
                    wire.get(body);
                    bytes += body.length;
                    assertEquals(ascii(batch.body(i)), ascii(body), "message " + i + " as body(i) gives it");
                    if (size != null) assertEquals((int) size, body.length, "--size is exact");
                    if (size == null || size > 100) assertEquals(98 + i, Json.MAPPER.readTree(body).get("seq").asLong(),
                        ascii(body));
                }
                assertEquals(batch.bytes(), bytes);
                assertFalse(wire.hasRemaining(), "nothing after the last message");
            }
        }
    }

    @Test void aMessageFrameKeepsItsBodyApart() throws Exception {
        byte[] header = ByteBuffer.allocate(Frame.MESSAGE_HEADER).putLong(123).putShort((short) 2).put(ID).array();
        byte[] data = ByteBuffer.allocate(header.length + 3).put(header).put(new byte[] {'a', 'b', 'c'}).array();
        Frame f = read(frame(Frame.MESSAGE, data), 100);
        assertEquals(Frame.MESSAGE, f.type());
        assertEquals(ascii(header), ascii(f.data()), "the header");
        assertEquals("abc", ascii(f.body()), "the body, in its own array");
        assertThrows(NsqException.NotNsqd.class, () -> read(frame(Frame.MESSAGE, new byte[10]), 100),
            "shorter than a message header");
    }

    @Test void framesDecodeAndHeartbeatsAreRecognised() throws Exception {
        Frame ok = read(frame(Frame.RESPONSE, "OK".getBytes(StandardCharsets.US_ASCII)), 100);
        assertEquals(Frame.RESPONSE, ok.type());
        assertEquals("OK", ok.text());
        assertFalse(ok.isHeartbeat());
        assertTrue(read(frame(Frame.RESPONSE, "_heartbeat_".getBytes(StandardCharsets.US_ASCII)), 100).isHeartbeat());
        assertEquals(Frame.ERROR, read(frame(Frame.ERROR, "E_INVALID x".getBytes(StandardCharsets.US_ASCII)),
            100).type());
    }

    @Test void anHttpAnswerIsNamedNotAllocated() {
        byte[] http =
            "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\n\r\n".getBytes(StandardCharsets.US_ASCII);
        var e = assertThrows(NsqException.NotNsqd.class, () -> read(http, 1 << 20));
        assertTrue(e.fatal());
        assertTrue(e.getMessage().contains("HTTP/1.1 400 Bad Request") && e.getMessage().contains(PEER.toString()),
            e.getMessage());
    }

    /**
     * A peer that stops half-way through a frame is stalled, not quiet: the reader tells the connection which reads
     * wait inside a frame (they get a shorter timeout), shows the stall to other threads while it lasts, and names it
     * when the timeout comes. A wait between frames is a plain timeout (a missed heartbeat), as before.
     */
    @Test void aReadThatStopsHalfWayThroughAFrameIsAStallNotAQuietSpell() throws Exception {
        byte[] wire = frame(Frame.RESPONSE, "_heartbeat_".getBytes(StandardCharsets.US_ASCII));
        List<Boolean> told = new java.util.ArrayList<>();
        long[] stalledDuringTheRead = {0};
        FrameReader[] reader = {null};
        java.io.InputStream sevenBytesThenSilence = new java.io.InputStream() {
            int sent;
            @Override public int read() { throw new UnsupportedOperationException(); }
            @Override public int read(byte[] b, int off, int len) throws java.io.IOException {
                if (sent < 7) {
                    int n = Math.min(len, 7 - sent);
                    System.arraycopy(wire, sent, b, off, n);
                    sent += n;
                    return n;
                }
                stalledDuringTheRead[0] = reader[0].stalledSinceNanos();
                throw new java.net.SocketTimeoutException("Read timed out");
            }
        };
        reader[0] = new FrameReader(sevenBytesThenSilence, PEER, 64, midFrame -> {
            told.add(midFrame);
            return midFrame ? 5025 : 65_000;
        });
        long before = System.nanoTime();
        var e = assertThrows(java.io.IOException.class, () -> reader[0].read(1 << 20));
        assertFalse(e instanceof java.net.SocketTimeoutException, "a stall, not a missed heartbeat: " + e);
        assertTrue(e.getMessage().contains("stopped half-way through a frame") && e.getMessage().contains("5025 ms"),
            e.getMessage());
        assertEquals(List.of(false, true), told, "the first read waits between frames, the next inside one");
        assertTrue(stalledDuringTheRead[0] - before >= 0, "the stall showed while the read waited");
        assertEquals(0, reader[0].stalledSinceNanos(), "and not after");
        assertTrue(reader[0].lastBytesNanos() - before >= 0, "bytes came");

        FrameReader silent = new FrameReader(new java.io.InputStream() {
            @Override public int read() throws java.io.IOException {
                throw new java.net.SocketTimeoutException("Read timed out"); }
        }, PEER, 64, midFrame -> 65_000);
        assertThrows(java.net.SocketTimeoutException.class, () -> silent.read(1 << 20),
            "between frames: a plain timeout");
    }

    @Test void impossibleFramesAreNotNsqd() throws Exception {
        byte[] huge = ByteBuffer.allocate(8).putInt(Integer.MAX_VALUE).putInt(0).array();
        var big = assertThrows(NsqException.NotNsqd.class, () -> read(huge, 1 << 20));
        assertTrue(big.getMessage().contains("2147483647"), big.getMessage());
        assertThrows(NsqException.NotNsqd.class, () -> read(ByteBuffer.allocate(8).putInt(2).putInt(0).array(), 100),
            "shorter than its type");
        assertThrows(NsqException.NotNsqd.class, () -> read(frame(7, new byte[0]), 100), "unknown type");
        var text = assertThrows(NsqException.NotNsqd.class,
            () -> read("SSH-2.0-OpenSSH\r\n".getBytes(StandardCharsets.US_ASCII), 100));
        assertTrue(text.getMessage().contains("\"SSH-\""), text.getMessage());
        // Within the limit but larger than what arrives: read as it comes, then the peer is gone.
        byte[] lying = ByteBuffer.allocate(12).putInt(64 << 20).putInt(Frame.MESSAGE).putInt(0).array();
        assertThrows(EOFException.class, () -> read(lying, 128 << 20));
    }

    /**
     * The end of a batch (flush output, send FINs) is decided on whole frames: a partial one must not hold the last
     * whole one.
     */
    @Test void aCompleteFrameIsReadyAPartialOneIsNot() throws Exception {
        byte[] one = frame(Frame.MESSAGE, new byte[100]), two = frame(Frame.MESSAGE, new byte[100]);
        byte[] wire = new byte[one.length + 50];
        System.arraycopy(one, 0, wire, 0, one.length);
        System.arraycopy(two, 0, wire, one.length, 50);
        FrameReader r = new FrameReader(new ByteArrayInputStream(wire), PEER, 64);
        assertTrue(r.frameReady(), "the first frame is all there");
        r.read(1000);
        assertFalse(r.frameReady(), "50 of the second frame's 108 bytes are not a frame");
        assertEquals(50, r.unread());
    }

    @Test void errorFramesSayWhetherTheyAreFatal() {
        assertTrue(new NsqException.ErrorResponse(PEER, "E_INVALID cannot SUB in current state").fatal());
        assertTrue(new NsqException.ErrorResponse(PEER, "E_BAD_TOPIC SUB topic name 'x y' is not valid").fatal());
        assertTrue(new NsqException.ErrorResponse(PEER, "E_AUTH_FAILED AUTH failed").fatal());
        assertTrue(new NsqException.ErrorResponse(PEER, "E_UNAUTHORIZED AUTH no authorizations found").fatal());
        var fin = new NsqException.ErrorResponse(PEER, "E_FIN_FAILED FIN 0123 failed ID not in flight");
        assertFalse(fin.fatal());
        assertTrue(fin.staleMessage());
        assertEquals("E_FIN_FAILED", fin.code());
        assertFalse(new NsqException.ErrorResponse(PEER, "E_PUB_FAILED PUB failed exiting").fatal());
    }

    @Test void identifyIsFlatJsonAndItsAnswerIsRead() throws Exception {
        Map<String, Object> fields = new LinkedHashMap<>();
        fields.put("client_id", "q\"uote\\back\nline");
        fields.put("heartbeat_interval", -1);
        fields.put("feature_negotiation", true);
        var parsed = Json.MAPPER.readTree(Identify.json(fields));
        assertEquals("q\"uote\\back\nline", parsed.get("client_id").asText());
        assertEquals(-1, parsed.get("heartbeat_interval").asInt());
        assertTrue(parsed.get("feature_negotiation").asBoolean());

        var answer = Identify.Answer.parse("{\"max_rdy_count\":50,\"version\":\"1.3.0\",\"max_msg_timeout\":900000,"
            + "\"msg_timeout\":2000,\"tls_v1\":false,\"deflate\":true,\"auth_required\":true,"
            + "\"output_buffer_timeout\":250}");
        assertEquals(50, answer.maxRdyCount());
        assertEquals(2000, answer.msgTimeout().toMillis());
        assertEquals(900_000, answer.maxMsgTimeout().toMillis());
        assertTrue(answer.authRequired());
        assertTrue(answer.flag("deflate"));
        assertFalse(answer.flag("tls_v1"));
        assertEquals("1.3.0", answer.version());
        var plain = Identify.Answer.parse("OK");
        assertEquals(2500, plain.maxRdyCount(), "without feature negotiation: nsqd's defaults");
    }
}
