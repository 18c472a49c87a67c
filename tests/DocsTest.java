import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The docs say only what is true of this checkout: every shell block is run by a test (or by
 * DocsRunTest, which runs the blocks marked `run`), every test they name exists, every make target
 * and link resolves, and the README stays a page a newcomer reads in minutes.
 */
@Tag("unit")
class DocsTest {
    static final Path ROOT = NsqBinaries.repoRoot();
    /** `<!-- check: run -->` or `<!-- check: run by NameTest, NameTest#method, path/to/script -->` */
    static final Pattern MARKER = Pattern.compile("<!-- check: run(?: by ([^>]+))? -->");
    static final Pattern TEST_REF = Pattern.compile("`([A-Z][A-Za-z0-9]*Test)(?:#([A-Za-z0-9_]+))?`");
    static final Pattern LINK = Pattern.compile("\\]\\(([^)#\\s]+)(#[^)]*)?\\)");
    /** make as a command: first on the line, after ; & | ( or sudo, or after VAR=value assignments. */
    static final Pattern MAKE =
        Pattern.compile("(?:^\\s*|[;&|(]\\s*|sudo\\s+|\\S=\\S*\\s+)make\\s+(?:-s\\s+)?([a-z][a-z-]*)");

    /** README.md and every page under docs/. */
    static List<Path> pages() throws IOException {
        List<Path> out = new ArrayList<>(List.of(ROOT.resolve("README.md"), ROOT.resolve("bench/DECISIONS.md")));
        try (Stream<Path> s = Files.list(ROOT.resolve("docs"))) {
            s.filter(p -> p.toString().endsWith(".md")).sorted().forEach(out::add);
        }
        return out;
    }

    /** A fenced block: the page, its first line's number, its marker (or null), its lines. */
    record Block(Path page, int line, String lang, String marker, List<String> lines) {
        String where() { return ROOT.relativize(page) + ":" + line; }
        String text() { return String.join("\n", lines) + "\n"; }
    }

    static List<Block> blocks(Path page) throws IOException {
        List<String> lines = Files.readAllLines(page);
        List<Block> out = new ArrayList<>();
        for (int i = 0; i < lines.size(); i++) {
            String l = lines.get(i);
            if (!l.startsWith("```") || l.length() == 3) continue;
            int end = i + 1;
            while (end < lines.size() && !lines.get(end).startsWith("```")) end++;
            String marker = i > 0 && MARKER.matcher(lines.get(i - 1)).find() ? lines.get(i - 1) : null;
            out.add(new Block(page, i + 1, l.substring(3).trim(), marker, lines.subList(i + 1, end)));
            i = end;
        }
        return out;
    }

    static List<Block> shellBlocks() throws IOException {
        List<Block> out = new ArrayList<>();
        for (Path p : pages()) for (Block b : blocks(p)) if (b.lang().equals("sh")) out.add(b);
        return out;
    }

    /** A test reference resolves: the class is a test here, and the method is one of its @Test methods. */
    static String unresolved(String cls, String method) throws IOException {
        Path f = ROOT.resolve("tests").resolve(cls + ".java");
        if (!Files.isRegularFile(f)) return cls + ": no tests/" + cls + ".java";
        if (method == null) return null;
        String src = Files.readString(f);
        return Pattern.compile("@Test[^;{]*?\\bvoid\\s+" + Pattern.quote(method) + "\\s*\\(").matcher(src).find()
            ? null : cls + "#" + method + ": no @Test method of that name";
    }

    @Test void everyShellBlockSaysWhichTestRunsIt() throws IOException {
        List<String> bad = new ArrayList<>();
        List<Block> all = shellBlocks();
        for (Block b : all) {
            if (b.marker() == null) { bad.add(b.where()
                + ": a sh block without <!-- check: run --> or <!-- check: run by ... -->"); continue; }
            Matcher m = MARKER.matcher(b.marker());
            assertTrue(m.find());
            if (m.group(1) == null) continue;
            for (String name : m.group(1).split(",")) {
                name = name.trim();
                if (name.contains("/")) {
                    if (!Files.exists(ROOT.resolve(name))) bad.add(b.where() + ": names " + name
                        + ", which does not exist");
                    continue;
                }
                String[] parts = name.split("#", 2);
                String why = unresolved(parts[0], parts.length > 1 ? parts[1] : null);
                if (why != null) bad.add(b.where() + ": " + why);
            }
        }
        assertTrue(all.size() >= 10, "the docs' shell blocks were found: " + all.size());
        assertEquals(List.of(), bad);
    }

    @Test void everyTestTheDocsNameExists() throws IOException {
        List<String> bad = new ArrayList<>();
        int seen = 0;
        for (Path p : pages()) {
            Matcher m = TEST_REF.matcher(Files.readString(p));
            while (m.find()) {
                seen++;
                String why = unresolved(m.group(1), m.group(2));
                if (why != null) bad.add(ROOT.relativize(p) + ": " + why);
            }
        }
        assertTrue(seen >= 30, "test references found: " + seen);
        assertEquals(List.of(), bad);
    }

    /** In commands and code spans: prose may say "make targets". */
    @Test void everyMakeTargetInTheDocsExists() throws IOException {
        String makefile = Files.readString(ROOT.resolve("Makefile"));
        Set<String> bad = new LinkedHashSet<>();
        for (Path p : pages()) {
            List<String> code = new ArrayList<>();
            Matcher span = Pattern.compile("`([^`\\n]+)`").matcher(Files.readString(p));
            while (span.find()) code.add(span.group(1));
            for (Block b : blocks(p)) if (b.lang().equals("sh")) code.addAll(b.lines());
            for (String line : code) {
                Matcher m = MAKE.matcher(line);
                while (m.find()) {
                    String target = m.group(1);
                    if (!Pattern.compile("(?m)^" + Pattern.quote(target) + ":").matcher(makefile).find()) {
                        bad.add(ROOT.relativize(p) + ": make " + target);
                    }
                }
            }
        }
        assertEquals(Set.of(), bad);
    }

    @Test void everyLocalLinkResolves() throws IOException {
        List<String> bad = new ArrayList<>();
        for (Path p : pages()) {
            Matcher m = LINK.matcher(Files.readString(p));
            while (m.find()) {
                String target = m.group(1);
                if (target.matches("[a-z]+:.*")) continue; // https:, mailto:
                if (!Files.exists(p.getParent().resolve(target).normalize())) bad.add(ROOT.relativize(p) + ": "
                    + target);
            }
        }
        assertEquals(List.of(), bad);
    }

    @Test void theReadmeIsShortAndLinksEveryPage() throws IOException {
        List<String> readme = Files.readAllLines(ROOT.resolve("README.md"));
        assertTrue(readme.size() <= 200, "README.md has " + readme.size() + " lines; reference belongs in docs/");
        String text = String.join("\n", readme);
        for (Path p : pages()) {
            String rel = ROOT.relativize(p).toString();
            if (rel.startsWith("docs/")) assertTrue(text.contains("(" + rel + ")"), "README links " + rel);
        }
    }
}
