package nsq.http;

import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Locale;
import nsq.HostPort;
import nsq.WriteDeadlines;

/**
 * One plain HTTP/1.1 request per connection (Connection: close), for nsqd's and nsqlookupd's small API. The JDK's
 * HttpClient costs a selector thread, a few hundred classes and, even for http://, the default TLS context with
 * its trust store (the wakeup's idle RSS at 1,000 groups, issue 24); this is a socket. HTTPS stays with HttpClient.
 * Answers come whole (Content-Length, chunked, or up to the close). Thread model: none; each call is its own.
 */
final class PlainHttp {
    /** An answer larger than this is not nsqd's (its /stats at 2,000 channels is ~1 MB). */
    static final int MAX_BODY = 64 << 20;

    record Response(int status, byte[] body) {}

    private PlainHttp() {}

    /**
     * {@code method} {@code pathAndQuery} on {@code target}, no body; within {@code connectTimeout} to connect and
     * {@code timeout} for the rest. The request is written within {@code timeout} too (every write has a deadline).
     */
    static Response exchange(HostPort target, String method, String pathAndQuery, Duration connectTimeout,
        Duration timeout) throws IOException {
        long deadline = System.nanoTime() + timeout.toNanos();
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress(target.host(), target.port()), (int) connectTimeout.toMillis());
            s.setTcpNoDelay(true);
            byte[] request = (method + " " + pathAndQuery + " HTTP/1.1\r\nHost: " + target + "\r\n"
                + "Connection: close\r\nContent-Length: 0\r\nUser-Agent: mqueue\r\n\r\n")
                .getBytes(StandardCharsets.ISO_8859_1);
            WriteDeadlines.Watch w = WriteDeadlines.SHARED.watch(timeout, () -> close(s));
            try {
                w.begin();
                OutputStream out = s.getOutputStream();
                out.write(request);
                out.flush();
            } finally {
                w.end();
                w.cancel();
            }
            return read(new BufferedInputStream(s.getInputStream(), 8 * 1024), s, deadline);
        } catch (SocketTimeoutException e) {
            throw new SocketTimeoutException("no answer within " + timeout.toMillis() + " ms");
        }
    }

    private static void close(Socket s) {
        try {
            s.close();
        } catch (IOException e) {
            // the write it ends fails with its own exception, which says what happened
        }
    }

    private static Response read(InputStream in, Socket s, long deadline) throws IOException {
        StringBuilder first = new StringBuilder();
        String statusLine;
        try {
            statusLine = line(in, s, deadline, first);
        } catch (IOException e) {
            // nsqd's TCP port answers "GET " with an error frame and resets the connection (our request unread)
            String got = first.toString();
            if (!got.isEmpty() && !"HTTP/1.".startsWith(got) && !got.startsWith("HTTP/1.")) {
                throw new IOException("Invalid status line: \"" + got + "\"", e);
            }
            throw e;
        }
        if (statusLine == null) throw new EOFException("the connection closed before an answer");
        if (!statusLine.startsWith("HTTP/1.") || statusLine.length() < 12) {
            throw new IOException("Invalid status line: \"" + statusLine + "\"");
        }
        int status;
        try {
            status = Integer.parseInt(statusLine.substring(9, 12));
        } catch (NumberFormatException e) {
            throw new IOException("Invalid status line: \"" + statusLine + "\"", e);
        }
        long length = -1;
        boolean chunked = false;
        for (String h; (h = line(in, s, deadline)) != null && !h.isEmpty(); ) {
            int colon = h.indexOf(':');
            if (colon < 0) continue;
            String name = h.substring(0, colon).trim().toLowerCase(Locale.ROOT), value = h.substring(colon + 1).trim();
            if (name.equals("content-length")) length = Long.parseLong(value);
            else if (name.equals("transfer-encoding")) chunked = value.toLowerCase(Locale.ROOT).contains("chunked");
        }
        if (length > MAX_BODY) throw new IOException("an answer of " + length + " bytes is not nsqd's");
        ByteArrayOutputStream body = new ByteArrayOutputStream(length > 0 ? (int) length : 8 * 1024);
        if (chunked) {
            for (String size; (size = line(in, s, deadline)) != null; ) {
                int semi = size.indexOf(';');
                long n = Long.parseLong((semi < 0 ? size : size.substring(0, semi)).trim(), 16);
                if (n == 0) break;
                copy(in, s, deadline, body, n);
                line(in, s, deadline); // the CRLF after the chunk
            }
        } else {
            copy(in, s, deadline, body, length);
        }
        return new Response(status, body.toByteArray());
    }

    /** {@code n} bytes (-1: up to the close) into {@code body}. */
    private static void copy(InputStream in, Socket s, long deadline, ByteArrayOutputStream body, long n)
        throws IOException {
        byte[] chunk = new byte[8 * 1024];
        for (long left = n; left != 0; ) {
            timeLeft(s, deadline);
            int r = in.read(chunk, 0, (int) (left < 0 ? chunk.length : Math.min(chunk.length, left)));
            if (r < 0) {
                if (n < 0) return;
                throw new EOFException("the connection closed " + left + " bytes before the answer's end");
            }
            body.write(chunk, 0, r);
            if (body.size() > MAX_BODY) throw new IOException("an answer over " + MAX_BODY + " bytes is not nsqd's");
            if (left > 0) left -= r;
        }
    }

    /** One CRLF-ended line (ISO-8859-1, without the CRLF), null at the close before any byte of it. */
    private static String line(InputStream in, Socket s, long deadline) throws IOException {
        return line(in, s, deadline, new StringBuilder());
    }

    /** {@link #line}, into {@code sb}: what arrived of it is there when a read fails. */
    private static String line(InputStream in, Socket s, long deadline, StringBuilder sb) throws IOException {
        timeLeft(s, deadline);
        for (int c; (c = in.read()) != '\n'; ) {
            if (c < 0) return sb.length() == 0 ? null : sb.toString();
            if (sb.length() > 8 * 1024) throw new IOException("Invalid status line: a header line over 8 KiB");
            sb.append((char) c);
        }
        int end = sb.length();
        if (end > 0 && sb.charAt(end - 1) == '\r') sb.setLength(end - 1);
        return sb.toString();
    }

    /** Sets the socket's read timeout to what is left of the whole exchange's. */
    private static void timeLeft(Socket s, long deadline) throws IOException {
        long ms = (deadline - System.nanoTime()) / 1_000_000;
        if (ms <= 0) throw new SocketTimeoutException("out of time");
        s.setSoTimeout((int) Math.min(Integer.MAX_VALUE, ms));
    }
}
