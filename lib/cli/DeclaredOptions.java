package cli;

import java.util.List;
import java.util.function.Consumer;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.IGetter;
import picocli.CommandLine.Model.ISetter;
import picocli.CommandLine.Model.OptionSpec;

/**
 * Options declared in code instead of with picocli's annotations: the options every consumer parses,
 * and those the tools share. Annotations are read through dynamic proxies, which no AOT cache or CDS
 * archive holds, and each annotation type is a class generated at run time: 37 options took 90 ms to
 * model and parse from annotations and 32 ms declared in code, on the same AOT-cached JDK (issue 24,
 * bench/DECISIONS.md). A socket-activated consumer pays that on every wake.
 *
 * <p>A class of such options implements {@link #declare}, adding its options to a command's spec, each
 * bound to one of its fields through {@link #option} or {@link #list}. {@link Cli#commandLine} declares
 * them for an annotated command (and its subcommands) that implements this too, after its own options.
 */
public interface DeclaredOptions {
    /** Adds these options to {@code spec}, bound to this object's fields. */
    void declare(CommandSpec spec);

    /** Declares each of {@code groups} in {@code spec}, in this order: a tool's list of the shared options it takes. */
    static void declareAll(CommandSpec spec, DeclaredOptions... groups) {
        for (DeclaredOptions g : groups) g.declare(spec);
    }

    /**
     * An option of {@code type} whose value (parsed, or its default) goes to {@code set}; build() it once described. A
     * primitive starts at its zero, as a field does.
     */
    static <T> OptionSpec.Builder option(Class<T> type, Consumer<? super T> set, String... names) {
        Bound<T> b = new Bound<>(set);
        return OptionSpec.builder(names).type(type).initialValue(zero(type)).getter(b).setter(b);
    }

    /** A repeatable, comma-separated option of {@code element} values, as one list to {@code set}. */
    static <E> OptionSpec.Builder list(Class<E> element, Consumer<? super List<E>> set, String... names) {
        Bound<List<E>> b = new Bound<>(set);
        return OptionSpec.builder(names).type(List.class).auxiliaryTypes(element).splitRegex(",").getter(b).setter(b);
    }

    private static Object zero(Class<?> type) {
        if (!type.isPrimitive()) return null;
        if (type == boolean.class) return Boolean.FALSE;
        if (type == int.class) return 0;
        if (type == long.class) return 0L;
        throw new IllegalArgumentException("no zero for " + type);
    }

    /**
     * -h/--help and -V/--version, as picocli's mixinStandardHelpOptions adds them (which reads them from annotations),
     * after every other option.
     */
    static void standardHelp(CommandSpec spec) {
        spec.addOption(option(boolean.class, v -> { }, "-h", "--help").usageHelp(true)
            .description("Show this help message and exit.").build());
        spec.addOption(option(boolean.class, v -> { }, "-V", "--version").versionHelp(true)
            .description("Print version information and exit.").build());
    }

    /**
     * A field's binding: picocli reads the value back (a list it appends to, the value checks look at) and sets it;
     * every set also reaches the field. Single-threaded: a command line is parsed on one thread.
     */
    final class Bound<T> implements IGetter, ISetter {
        private final Consumer<? super T> field;
        private Object value;

        Bound(Consumer<? super T> field) { this.field = field; }

        @Override
        @SuppressWarnings("unchecked")
        public <V> V get() { return (V) value; }

        @Override
        @SuppressWarnings("unchecked")
        public <V> V set(V v) {
            V old = (V) value;
            value = v;
            field.accept((T) v);
            return old;
        }
    }
}
