///usr/bin/env jbang "$0" "$@" ; exit $?
// The smallest handler: every consumer option (./hello.java --help), each message's body on a line.
// A script elsewhere names the front door by path or URL, e.g. //SOURCES https://HOST/mqueue/lib/Nsq.java
//SOURCES ../lib/Nsq.java

public class hello {
    public static void main(String... args) {
        Nsq.consumer(args).handle(m -> System.out.println(m.text()));
    }
}
