package util;

import java.util.concurrent.ThreadFactory;

/** Daemon threads: none of mqueue's background threads may keep a JVM alive after main returns. */
public final class Threads {
    private Threads() {}

    /** A started daemon thread. */
    public static Thread start(String name, Runnable body) {
        Thread t = daemon(name, body);
        t.start();
        return t;
    }

    /** A daemon thread, not yet started. */
    public static Thread daemon(String name, Runnable body) {
        Thread t = new Thread(body, name);
        t.setDaemon(true);
        return t;
    }

    /** For executors: every thread a daemon with this name. */
    public static ThreadFactory daemons(String name) {
        return body -> daemon(name, body);
    }

    /**
     * For many readers that mostly wait on a socket (the wakeup's push connections: 200 at 1,000 groups): virtual
     * threads where the JVM is 24 or later, platform daemons before. A platform thread costs its stack and the
     * kernel's task (~430 threads took ~40 MB of RSS there); a virtual one a few KiB of heap while it waits. Not
     * before 24: a virtual thread blocking inside {@code synchronized} pinned its carrier until JDK 24 (JEP 491),
     * and the NSQ client blocks there. Looked up at run time: the scripts compile for Java 17.
     */
    public static ThreadFactory readers() { return Readers.FACTORY; }

    /** Whether {@link #readers()} gives virtual threads on this JVM. */
    public static boolean virtualReaders() { return Readers.FACTORY != PLATFORM; }

    private static final ThreadFactory PLATFORM = body -> daemon("reader", body);

    /** Looked up at the first use: a consumer never asks, and the reflection took ~3 ms of its cold start. */
    private static final class Readers {
        static final ThreadFactory FACTORY = virtualFactory();
    }

    private static ThreadFactory virtualFactory() {
        if (Runtime.version().feature() < 24) return PLATFORM;
        try {
            Object builder = Thread.class.getMethod("ofVirtual").invoke(null);
            return (ThreadFactory) Class.forName("java.lang.Thread$Builder").getMethod("factory").invoke(builder);
        } catch (ReflectiveOperationException | RuntimeException e) {
            // A JVM without them (not expected past 21): platform threads work the same, at their cost.
            System.err.println("mqueue: no virtual threads on Java " + Runtime.version() + " (" + e
                + "); platform threads");
            return PLATFORM;
        }
    }
}
