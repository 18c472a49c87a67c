package wake;

import java.util.HashMap;
import java.util.Map;
import java.util.Objects;

/**
 * The last known state of each thing a loop watches (a socket without a channel, an nsqd, a
 * lookupd), so the loop logs a line only when a state changes: a scan every few seconds must not
 * repeat a warning. Not thread-safe: one owner, the loop that watches (under its lock).
 */
public final class StateChanges<K> {
    private final Map<K, Object> last = new HashMap<>();

    /** Records {@code state} for {@code key}; true when it differs from the one before (or is the first). */
    public boolean changed(K key, Object state) {
        return !Objects.equals(last.put(key, state), state);
    }

    /** The state before this one was recorded; null if none. */
    public Object get(K key) { return last.get(key); }
}
