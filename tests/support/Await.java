import java.time.Duration;

/** Bounded waits on a condition, instead of sleeps; the failure says what was awaited. */
final class Await {
    private Await() {}

    interface Condition { boolean check() throws Exception; }

    static void until(String what, Duration timeout, Condition condition) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        Exception last = null;
        while (true) {
            try {
                if (condition.check()) return;
                last = null;
            } catch (RuntimeException e) {
                throw e;
            } catch (Exception e) {
                last = e;
            }
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out after " + timeout.toMillis() + " ms waiting for: " + what
                    + (last == null ? "" : " (last error: " + last + ")"), last);
            }
            Thread.sleep(20);
        }
    }
}
