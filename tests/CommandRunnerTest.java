import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import consume.CommandRunner;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import nsq.HostPort;
import nsq.NsqConfig;
import nsq.subscribe.Message;
import nsq.subscribe.Subscriber;
import org.junit.jupiter.api.Test;

/**
 * --exec's runner without nsqd (a subscriber that is never started lends its msg-timeout): the worker
 * writes the body to the command's stdin itself, so a body larger than a pipe holds must arrive whole,
 * and a command that never reads it must still be killed at its timeout, freeing the worker.
 */
class CommandRunnerTest {
    static final Duration BOUND = Duration.ofSeconds(30);
    final Subscriber sub = new Subscriber(NsqConfig.defaults(), List.of("s"), "g", 1, m -> {});

    static Message message(int n, byte[] body) {
        Message.Delegate none = new Message.Delegate() {
            @Override public void finish(Message m) {}
            @Override public void requeue(Message m, Duration d) {}
            @Override public void touch(Message m) {}
            @Override public String topic() { return "s"; }
            @Override public HostPort address() { return new HostPort("127.0.0.1", 4150); }
        };
        return new Message(none, String.format("%016d", n).getBytes(StandardCharsets.US_ASCII), 1, 0, body);
    }

    /** Runs each body through the command on the runner's workers; what run() said for each, in order. */
    static List<String> runAll(CommandRunner runner, Subscriber sub, List<byte[]> bodies) throws Exception {
        Map<Integer, CompletableFuture<String>> results = new ConcurrentHashMap<>();
        for (int i = 0; i < bodies.size(); i++) {
            CompletableFuture<String> result = new CompletableFuture<>();
            results.put(i, result);
            assertTrue(runner.submit("s", sub, message(i, bodies.get(i)),
                j -> result.complete(String.valueOf(runner.run(j)))));
        }
        List<String> out = new ArrayList<>();
        for (int i = 0; i < bodies.size(); i++) out.add(results.get(i).get(BOUND.toMillis(), TimeUnit.MILLISECONDS));
        return out;
    }

    @Test void aBodyLargerThanAPipeReachesTheCommandWhole() throws Exception {
        byte[] big = new byte[4 * 1024 * 1024];
        Arrays.fill(big, (byte) 'x');
        try (CommandRunner runner = new CommandRunner("[ \"$(wc -c)\" -eq " + big.length + " ]", "g", 2,
                Duration.ofSeconds(20))) {
            assertEquals(List.of("null", "null", "null"), runAll(runner, sub, List.of(big, big, big)),
                "exit 0: every byte arrived");
        }
    }

    @Test void aCommandThatNeverReadsItsBodyIsKilledAtItsTimeoutAndTheWorkerMovesOn() throws Exception {
        byte[] big = new byte[4 * 1024 * 1024];
        try (CommandRunner stuck = new CommandRunner("sleep 60", "g", 1, Duration.ofMillis(300))) {
            assertEquals(List.of("timed out after 300ms", "timed out after 300ms"), runAll(stuck, sub, List.of(big,
                big)),
                "the write into a full pipe ended with the kill, and the one worker ran the second too");
        }
        try (CommandRunner quick = new CommandRunner("exit 3", "g", 1, Duration.ofSeconds(20))) {
            assertEquals(List.of("exit status 3"), runAll(quick, sub, List.of(big)),
                "a command that exits without reading: its status");
        }
    }

    @Test void runReportsExitStatus() throws Exception {
        try (CommandRunner runner = new CommandRunner("read line; [ \"$line\" = ok ]", "g", 2,
                Duration.ofSeconds(20))) {
            List<String> got = runAll(runner, sub, List.of("ok\n".getBytes(StandardCharsets.US_ASCII),
                "no\n".getBytes(StandardCharsets.US_ASCII)));
            assertEquals("null", got.get(0));
            assertEquals("exit status 1", got.get(1));
        }
    }
}
