///usr/bin/env jbang "$0" "$@" ; exit $?
// make bench's trivial handler on the front door: it returns at once, so its message is finished (the
// in-process side of the "handler" case, beside consumer --exec true). scripts/package packages it.
//SOURCES ../lib/Nsq.java

public class noop {
    public static void main(String... args) {
        Nsq.consumer(args).handle(m -> { });
    }
}
