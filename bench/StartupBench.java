///usr/bin/env jbang "$0" "$@" ; exit $?
//JAVA 17+
//DEPS com.fasterxml.jackson.core:jackson-databind:2.18.2
//DEPS info.picocli:picocli:4.7.7
//DEPS com.kohlschutter.junixsocket:junixsocket-common:2.10.1
//DEPS com.kohlschutter.junixsocket:junixsocket-native-common:2.10.1
//SOURCES ../lib/util/*.java ../lib/nsq/*.java ../lib/nsq/http/*.java ../lib/nsq/publish/*.java
//SOURCES ../lib/cli/*.java ../lib/activation/*.java

import activation.WakeSocket;
import cli.Log;
import java.io.BufferedReader;
import nsq.HostPort;
import nsq.NsqConfig;
import nsq.http.NsqHttp;
import nsq.publish.Publisher;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * Start-up cost of a socket-activated consumer, per start-up path: time from the wake
 * connection to the first message on the consumer's stdout, over N cold starts under
 * systemd-socket-activate, next to a plain `java Hello` measured in the same run.
 * Run by bench/startup.sh, which starts a private nsqd and passes the variants:
 *   StartupBench NSQD_TCP NSQD_HTTP RUNS 'label=command words...' ...
 * Each command is consumer.java started some way; it gets its options from the environment
 * (STREAM, GROUP, NSQD_TCP_ADDRESS, SOCKET_ACTIVATION=true, TIMEOUT).
 */
public class StartupBench {
    static final String IDLE_TIMEOUT = "3s"; // small: each run's consumer exits on its own soon after the message
    public static void main(String[] args) throws Exception {
        Log.init("startup-bench", false);
        HostPort tcp = HostPort.parse(args[0]);
        NsqHttp http = new NsqHttp(HostPort.parse(args[1]));
        int runs = Integer.parseInt(args[2]);
        Path dir = Files.createTempDirectory("mqueue-startup-");
        System.out.printf(Locale.ROOT, "%-28s %6s %9s %9s %9s   %s%n", "start-up path", "runs", "p50 ms", "min ms",
            "max ms", "measures");
        System.out.println(row("java Hello (baseline)", helloWorld(dir, runs), "spawn -> exit"));
        for (int v = 3; v < args.length; v++) {
            String label = args[v].substring(0, args[v].indexOf('='));
            List<String> command = Arrays.asList(args[v].substring(label.length() + 1).split(" "));
            List<Long> toMessage = new ArrayList<>(), toOk = new ArrayList<>();
            for (int i = -2; i < runs; i++) { // two uncounted runs warm the page cache
                long[] t = wakeToFirstMessage(dir, tcp, http, label.replaceAll("[^a-z0-9]", "") + (i + 2), command);
                if (i >= 0) { toOk.add(t[0]); toMessage.add(t[1]); }
            }
            System.out.println(row(label, toMessage, "wake -> first message handled"));
            System.out.println(row("", toOk, "wake -> ok"));
        }
    }

    static String row(String label, List<Long> nanos, String what) {
        long[] ms = nanos.stream().mapToLong(n -> n / 1_000_000).sorted().toArray();
        return String.format(Locale.ROOT, "%-28s %6d %9d %9d %9d   %s", label, ms.length, ms[(ms.length - 1) / 2],
            ms[0], ms[ms.length - 1], what);
    }

    static List<Long> helloWorld(Path dir, int runs) throws Exception {
        Path src = dir.resolve("Hello.java");
        Files.writeString(src,
            "public class Hello { public static void main(String[] a) { System.out.println(\"hello\"); } }");
        Process javac = new ProcessBuilder("javac", "-d", dir.toString(), src.toString()).inheritIO().start();
        if (javac.waitFor() != 0) throw new IllegalStateException("javac Hello.java failed");
        List<Long> times = new ArrayList<>();
        for (int i = 0; i <= runs; i++) {
            long t0 = System.nanoTime();
            Process p = new ProcessBuilder("java", "-cp", dir.toString(), "Hello").redirectErrorStream(true).start();
            p.getInputStream().readAllBytes();
            if (p.waitFor() != 0) throw new IllegalStateException("java Hello failed");
            if (i > 0) times.add(System.nanoTime() - t0);
        }
        return times;
    }

    /** One cold start: [wake -> ok, wake -> first stdout line] in nanoseconds. */
    static long[] wakeToFirstMessage(Path dir, HostPort tcp, NsqHttp http, String stream,
            List<String> command) throws Exception {
        http.createTopic(stream);
        http.createChannel(stream, "g");
        try (Publisher pub = new Publisher(tcp, NsqConfig.defaults())) {
            pub.publish(stream, ("first message of " + stream).getBytes(StandardCharsets.UTF_8));
        }
        Path socket = dir.resolve(stream + ".sock");
        List<String> cmd = new ArrayList<>(List.of("systemd-socket-activate", "-l", socket.toString(),
            "-E", "STREAM=" + stream, "-E", "GROUP=g", "-E", "NSQD_TCP_ADDRESS=" + tcp,
            // The real consumer: insists on the passed socket, prints bodies on stdout, exits 0 soon after going idle.
            "-E", "SOCKET_ACTIVATION=true", "-E", "FORMAT=raw", "-E", "TIMEOUT=" + IDLE_TIMEOUT,
            "-E", "HOME", "-E", "LANG", "-E", "PATH"));
        // Only variables that are set: "-E NAME" of an unset one passes it empty, and JBang
        // then takes an empty JBANG_REPO as the working directory.
        for (String name : List.of("JAVA_HOME", "JBANG_REPO", "JBANG_CACHE_DIR", "MQUEUE_APP")) {
            if (System.getenv(name) != null) cmd.addAll(List.of("-E", name));
        }
        cmd.add("--");
        cmd.addAll(command);
        Process p = new ProcessBuilder(cmd).redirectError(dir.resolve(stream + ".err").toFile()).start();
        try {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (!Files.exists(socket)) {
                if (!p.isAlive() || System.nanoTime() > deadline) throw new IllegalStateException("no socket from "
                    + cmd);
                Thread.sleep(5);
            }
            BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
            CompletableFuture<Long> first = CompletableFuture.supplyAsync(() -> {
                try {
                    String line = out.readLine();
                    if (line == null) throw new IllegalStateException("no output; stderr in " + dir.resolve(stream
                        + ".err"));
                    return System.nanoTime();
                } catch (IOException e) {
                    throw new IllegalStateException(e);
                }
            });
            long t0;
            while (true) { // the file appears at bind(), a moment before listen(): refused means "not yet"
                t0 = System.nanoTime();
                try {
                    WakeSocket.wake(socket, new WakeSocket.Wake(stream, "g"), Duration.ofSeconds(60));
                    break;
                } catch (java.net.SocketException refused) {
                    if (!String.valueOf(refused.getMessage()).contains("refused")
                        || System.nanoTime() > deadline) throw refused;
                    Thread.sleep(2);
                }
            }
            long ok = System.nanoTime();
            long msg = first.get(60, TimeUnit.SECONDS);
            return new long[] {ok - t0, msg - t0};
        } finally {
            // Normally it has exited after --timeout already; otherwise SIGTERM, a clean stop.
            p.descendants().forEach(ProcessHandle::destroy);
            p.destroy();
            if (!p.waitFor(20, TimeUnit.SECONDS)) {
                p.descendants().forEach(ProcessHandle::destroyForcibly);
                p.destroyForcibly();
            }
            Files.deleteIfExists(socket);
        }
    }
}
