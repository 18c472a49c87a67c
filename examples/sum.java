///usr/bin/env jbang "$0" "$@" ; exit $?
// A handler in Java: adds up a numeric field of producer.java's events and prints the running total.
// It gets every consumer option through the front door (--stream, --group, --timeout, --concurrency, TLS,
// dead letters after --max-attempts, socket activation, drain on SIGTERM): ./sum.java --help
//SOURCES ../lib/Nsq.java

import com.fasterxml.jackson.databind.JsonNode;
import java.util.concurrent.atomic.AtomicLong;
import picocli.CommandLine.Option;

public class sum {
    @Option(names = "--field", paramLabel = "PATH", defaultValue = "${env:FIELD:-seq}",
        description =
            "The field to add up, dotted for a nested one (payload.amount) (env FIELD, default ${DEFAULT-VALUE}).")
    String field;

    final AtomicLong total = new AtomicLong();

    public static void main(String... args) {
        sum s = new sum();
        Nsq.consumer(args).options(s).handle(s::add);
    }

    /**
     * Returning finishes the message; an event without the field throws: requeued, and dead-lettered after
     * --max-attempts.
     */
    void add(Nsq.Message m) throws Exception {
        JsonNode value = m.json();
        for (String key : field.split("\\.")) value = value.path(key);
        if (!value.canConvertToLong()) throw new IllegalArgumentException("no number at " + field);
        System.out.println(m.stream() + " " + field + " total " + total.addAndGet(value.asLong()));
    }
}
