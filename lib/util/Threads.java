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
}
