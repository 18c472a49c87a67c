import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.PathMatcher;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The layout keeps the design: lib/ holds one Java package per folder, layers import only
 * downward (roles -> activation, events -> cli -> nsq -> util), roles never import each other,
 * each script sources exactly the files it uses and names its own //DEPS. Read from the sources.
 */
@Tag("unit")
class LayoutTest {
    static final Path ROOT = NsqBinaries.repoRoot(), LIB = ROOT.resolve("lib");
    static final List<String> SCRIPTS = List.of("producer.java", "consumer.java", "wakeup.java");

    /** A package may import only packages of a lower rank; equal ranks (the roles) never import each other. */
    static final Map<String, Integer> RANK = Map.ofEntries(
        Map.entry("util", 0), Map.entry("nsq", 1), Map.entry("nsq.http", 2), Map.entry("nsq.publish", 2),
        Map.entry("nsq.subscribe", 3), Map.entry("cli", 4), Map.entry("activation", 5), Map.entry("events", 5),
        Map.entry("consume", 6), Map.entry("produce", 6), Map.entry("wake", 6));

    /** Which dependency a script needs for each library its sources import. */
    static final Map<String, List<String>> DEPS = Map.of(
        "picocli.", List.of("info.picocli:picocli:"),
        "com.fasterxml.jackson.", List.of("com.fasterxml.jackson.core:jackson-databind:"),
        "io.airlift.compress.", List.of("io.airlift:aircompressor:"),
        "org.newsclub.", List.of("com.kohlschutter.junixsocket:junixsocket-common:", "com.kohlschutter.junixsocket:junixsocket-native-common:"));

    record Source(Path path, String pkg, String name, String code, List<String> imports) {}

    static Source read(Path p) throws IOException {
        String text = Files.readString(p, StandardCharsets.UTF_8);
        String code = code(text);
        Matcher pkg = Pattern.compile("(?m)^package ([\\w.]+);").matcher(code);
        List<String> imports = new ArrayList<>();
        Matcher imp = Pattern.compile("(?m)^import (?:static )?([\\w.]+(?:\\.\\*)?);").matcher(code);
        while (imp.find()) imports.add(imp.group(1));
        String name = p.getFileName().toString().replace(".java", "");
        return new Source(p, pkg.find() ? pkg.group(1) : "", name, code, imports);
    }

    /** The text without comments and with empty string and char literals: they name things the code does not use. */
    static String code(String text) {
        StringBuilder out = new StringBuilder(text.length());
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            char next = i + 1 < text.length() ? text.charAt(i + 1) : 0;
            if (c == '/' && next == '/') {
                while (i < text.length() && text.charAt(i) != '\n') i++;
                out.append('\n');
            } else if (c == '/' && next == '*') {
                int end = text.indexOf("*/", i + 2);
                i = end < 0 ? text.length() : end + 1;
                out.append(' ');
            } else if (c == '"' || c == '\'') {
                for (i++; i < text.length() && text.charAt(i) != c; i++) if (text.charAt(i) == '\\') i++;
                out.append(c).append(c);
            } else {
                out.append(c);
            }
        }
        return out.toString();
    }

    static List<Source> lib() throws IOException {
        List<Source> out = new ArrayList<>();
        try (Stream<Path> files = Files.walk(LIB)) {
            for (Path p : files.filter(f -> f.toString().endsWith(".java")).sorted().toList()) out.add(read(p));
        }
        return out;
    }

    @Test void eachFolderIsOnePackageOfTheLayers() throws IOException {
        Set<String> names = new TreeSet<>();
        for (Source s : lib()) {
            String folder = LIB.relativize(s.path().getParent()).toString().replace('/', '.');
            assertEquals(folder, s.pkg(), s.path() + " declares the package of its folder");
            assertTrue(RANK.containsKey(s.pkg()), s.pkg() + " has a place in the layers");
            assertTrue(names.add(s.name()), "one class per simple name in lib/: " + s.name());
        }
    }

    @Test void layersImportOnlyDownward() throws IOException {
        List<String> wrong = new ArrayList<>();
        for (Source s : lib()) {
            for (String imp : s.imports()) {
                String target = imp.substring(0, imp.lastIndexOf('.'));
                if (!RANK.containsKey(target) || target.equals(s.pkg())) continue;
                if (RANK.get(target) >= RANK.get(s.pkg())) wrong.add(LIB.relativize(s.path()) + " imports " + imp);
            }
            if (s.pkg().startsWith("nsq") || s.pkg().equals("util")) {
                for (String imp : s.imports()) if (imp.startsWith("picocli.")) wrong.add(LIB.relativize(s.path()) + " imports " + imp);
            }
        }
        assertEquals(List.of(), wrong, "imports that point up a layer or across roles (the NSQ client knows no CLI)");
    }

    @Test void eachScriptSourcesExactlyWhatItUses() throws IOException {
        Map<String, Source> byClass = new TreeMap<>();
        for (Source s : lib()) byClass.put(s.pkg() + "." + s.name(), s);
        for (String script : SCRIPTS) {
            Set<String> sourced = new TreeSet<>();
            for (String glob : directives(ROOT.resolve(script), "SOURCES")) {
                PathMatcher m = FileSystems.getDefault().getPathMatcher("glob:" + ROOT.resolve(glob));
                try (Stream<Path> files = Files.walk(LIB)) {
                    files.filter(m::matches).forEach(p -> sourced.add(ROOT.relativize(p).toString()));
                }
            }
            Set<String> used = new TreeSet<>();
            Deque<Source> todo = new ArrayDeque<>(List.of(read(ROOT.resolve(script))));
            while (!todo.isEmpty()) {
                Source s = todo.pop();
                for (Source dep : byClass.values()) {
                    if (dep != s && refersTo(s, dep) && used.add(ROOT.relativize(dep.path()).toString())) todo.push(dep);
                }
            }
            assertEquals(used, sourced, script + ": //SOURCES against the lib files it uses, directly or through them");
        }
    }

    /** As javac resolves a simple name: same package, an import of it or its package, or its full name. */
    static boolean refersTo(Source from, Source to) {
        boolean visible = from.pkg().equals(to.pkg()) || from.imports().contains(to.pkg() + "." + to.name())
            || from.imports().contains(to.pkg() + ".*");
        if (visible && Pattern.compile("\\b" + to.name() + "\\b").matcher(from.code().replaceAll("(?m)^(package|import) .*$", "")).find()) {
            return true;
        }
        return from.code().contains(to.pkg() + "." + to.name());
    }

    @Test void dependenciesAreNamedAtTheTopOfEachScript() throws IOException {
        for (Source s : lib()) {
            assertTrue(directives(s.path(), "DEPS").isEmpty(), s.path() + ": //DEPS belong at the top of the scripts that use it");
        }
        for (String script : SCRIPTS) {
            List<String> deps = directives(ROOT.resolve(script), "DEPS");
            String head = Files.readString(ROOT.resolve(script)).split("\nimport ", 2)[0];
            assertTrue(head.contains("//DEPS") || deps.isEmpty(), script + ": //DEPS at the top");
            Set<String> imported = new TreeSet<>();
            for (String glob : directives(ROOT.resolve(script), "SOURCES")) {
                PathMatcher m = FileSystems.getDefault().getPathMatcher("glob:" + ROOT.resolve(glob));
                try (Stream<Path> files = Files.walk(LIB)) {
                    for (Path p : files.filter(m::matches).toList()) imported.addAll(read(p).imports());
                }
            }
            imported.addAll(read(ROOT.resolve(script)).imports());
            for (var lib : DEPS.entrySet()) {
                boolean uses = imported.stream().anyMatch(i -> i.startsWith(lib.getKey()));
                for (String dep : lib.getValue()) {
                    boolean declared = deps.stream().anyMatch(d -> d.startsWith(dep));
                    assertEquals(uses, declared, script + (uses ? " uses " : " does not use ") + lib.getKey() + ": //DEPS " + dep);
                }
            }
        }
    }

    /** JDK 17's javac reads sources in the locale's charset, and systemd starts services with none (ASCII). */
    @Test void javaSourcesAreAscii() throws IOException {
        List<String> offenders = new ArrayList<>();
        try (Stream<Path> files = Files.walk(ROOT)) {
            for (Path p : files.filter(f -> f.toString().endsWith(".java") && !ROOT.relativize(f).startsWith(".nsq")).toList()) {
                List<String> lines = Files.readAllLines(p, StandardCharsets.UTF_8);
                for (int i = 0; i < lines.size(); i++) {
                    if (!lines.get(i).chars().allMatch(c -> c < 128)) offenders.add(ROOT.relativize(p) + ":" + (i + 1));
                }
            }
        }
        assertEquals(List.of(), offenders, "non-ASCII characters (use \\uXXXX escapes)");
    }

    /** The words after each //NAME line of a JBang file. */
    static List<String> directives(Path file, String name) throws IOException {
        List<String> out = new ArrayList<>();
        for (String line : Files.readAllLines(file)) {
            if (line.startsWith("//" + name + " ")) for (String w : line.substring(name.length() + 3).trim().split("\\s+")) out.add(w);
        }
        return out;
    }
}
