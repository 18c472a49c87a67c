///usr/bin/env jbang "$0" "$@" ; exit $?
// A pipeline step: reads producer.java's events and publishes a smaller one for each to another stream
// (--to), returning only once nsqd acknowledged it: a message is finished after its successor is in nsqd,
// so nothing is lost between the streams (at least once: a crash in between publishes it twice).
//SOURCES ../lib/Nsq.java

import com.fasterxml.jackson.databind.JsonNode;
import picocli.CommandLine.Option;

public class pipe {
    @Option(names = "--to", paramLabel = "STREAM", required = true, defaultValue = "${env:TO}",
        description = "The stream to publish to (env TO).")
    String to;

    public static void main(String... args) {
        pipe p = new pipe();
        Nsq.Consumer consumer = Nsq.consumer(args).options(p);
        consumer.handle(m -> consumer.publisher().publish(p.to, p.summary(m)));
    }

    /** {"producer": ..., "seq": ..., "bytes": ...}: who sent it, which one, and how large it was. */
    String summary(Nsq.Message m) throws Exception {
        JsonNode event = m.json();
        return "{\"producer\":" + event.path("producer") + ",\"seq\":" + event.path("seq") + ",\"bytes\":"
            + m.body().length + "}";
    }
}
