import java.util.regex.Pattern;
import picocli.CommandLine;

/** NSQ's rules for topic (stream) and channel (group) names, checked before anything is sent. */
final class Names {
    static final String RULE = "NSQ names match ^[.a-zA-Z0-9_-]+(#ephemeral)?$ and are 1-64 characters including the suffix";
    private static final Pattern VALID = Pattern.compile("^[.a-zA-Z0-9_-]+(#ephemeral)?$");
    static final String EPHEMERAL = "#ephemeral";

    private Names() {}

    static boolean isValid(String name) {
        return name != null && name.length() >= 1 && name.length() <= 64 && VALID.matcher(name).matches();
    }

    static boolean isEphemeral(String name) {
        return name.endsWith(EPHEMERAL);
    }

    /** Returns {@code name} or throws a one-line error naming the value and the rule. */
    static String check(String kind, String name) {
        if (!isValid(name)) {
            throw new CommandLine.TypeConversionException("invalid " + kind + " name '" + name + "': " + RULE);
        }
        return name;
    }

    /** picocli converters so an invalid --stream/--group fails at parse time with exit 2. */
    static final class Stream implements CommandLine.ITypeConverter<String> {
        public String convert(String value) { return check("stream", value); }
    }

    static final class Group implements CommandLine.ITypeConverter<String> {
        public String convert(String value) { return check("group", value); }
    }
}
