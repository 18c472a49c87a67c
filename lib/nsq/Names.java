package nsq;

import java.util.regex.Pattern;

/** NSQ's rules for topic and channel names (nsqd's internal/protocol/names.go), checked before anything is sent. */
public final class Names {
    public static final String RULE =
        "NSQ names match ^[.a-zA-Z0-9_-]+(#ephemeral)?$ and are 1-64 characters including the suffix";
    public static final String EPHEMERAL = "#ephemeral";
    private static final Pattern VALID = Pattern.compile("^[.a-zA-Z0-9_-]+(#ephemeral)?$");

    private Names() {}

    public static boolean isValid(String name) {
        return name != null && name.length() >= 1 && name.length() <= 64 && VALID.matcher(name).matches();
    }

    public static boolean isEphemeral(String name) {
        return name.endsWith(EPHEMERAL);
    }

    /** Returns {@code name}, or throws IllegalArgumentException naming the value and the rule. */
    public static String check(String kind, String name) {
        if (name == null || name.isEmpty()) throw new IllegalArgumentException("the " + kind + " name is empty: "
            + RULE);
        if (!isValid(name)) throw new IllegalArgumentException("invalid " + kind + " name '" + name + "': " + RULE);
        return name;
    }
}
