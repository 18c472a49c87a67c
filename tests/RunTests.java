///usr/bin/env jbang "$0" "$@" ; exit $?
//JAVA 17+
//DEPS org.junit.jupiter:junit-jupiter-engine:5.11.4
//DEPS org.junit.platform:junit-platform-launcher:1.11.4
//SOURCES ../lib/*.java
//SOURCES *.java
//SOURCES ../producer.java ../consumer.java ../wakeup.java

import static org.junit.platform.engine.discovery.DiscoverySelectors.selectClass;
import static org.junit.platform.engine.discovery.DiscoverySelectors.selectMethod;

import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.jar.JarFile;
import java.util.stream.Stream;
import org.junit.platform.engine.DiscoverySelector;
import org.junit.platform.engine.TestExecutionResult;
import org.junit.platform.engine.reporting.ReportEntry;
import org.junit.platform.launcher.LauncherDiscoveryRequest;
import org.junit.platform.launcher.TestExecutionListener;
import org.junit.platform.launcher.TestIdentifier;
import org.junit.platform.launcher.core.LauncherDiscoveryRequestBuilder;
import org.junit.platform.launcher.core.LauncherFactory;

/**
 * Runs mqueue's JUnit 5 tests: `./jbang tests/RunTests.java [Class[#method]...]`.
 * JBang packs classes into a jar, where classpath scanning finds nothing, so the test classes
 * (every *Test class in that jar) are selected by name. Ends with "N passed, N failed, N skipped";
 * exits 1 on any failure or when no test ran.
 */
public class RunTests {
    public static void main(String[] args) throws Exception {
        List<DiscoverySelector> selectors = new ArrayList<>();
        for (String arg : args.length > 0 ? List.of(args) : testClasses()) {
            selectors.add(arg.contains("#") ? selectMethod(arg) : selectClass(arg));
        }
        LauncherDiscoveryRequest request = LauncherDiscoveryRequestBuilder.request()
            .selectors(selectors)
            // A hung test fails alone instead of eating CI's time budget.
            .configurationParameter("junit.jupiter.execution.timeout.default", "180 s")
            .build();
        Outcome outcome = new Outcome();
        LauncherFactory.create().execute(request, outcome);
        outcome.printFailures();
        System.out.printf(Locale.ROOT, "%d passed, %d failed, %d skipped%n",
            outcome.passed.get(), outcome.failed.get(), outcome.skipped.get());
        boolean ran = outcome.passed.get() + outcome.failed.get() > 0;
        if (!ran) System.out.println("error: no test ran");
        System.exit(outcome.failed.get() == 0 && ran ? 0 : 1);
    }

    /** Every top-level class named *Test in the jar (or directory) this class was loaded from. */
    static List<String> testClasses() throws IOException, URISyntaxException {
        Path origin = Path.of(RunTests.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        List<String> names = new ArrayList<>();
        if (Files.isDirectory(origin)) {
            try (Stream<Path> files = Files.list(origin)) {
                files.map(p -> p.getFileName().toString()).forEach(names::add);
            }
        } else {
            try (JarFile jar = new JarFile(origin.toFile())) {
                jar.stream().map(e -> e.getName()).filter(n -> !n.contains("/")).forEach(names::add);
            }
        }
        List<String> tests = new ArrayList<>();
        for (String n : names) {
            if (n.endsWith("Test.class") && !n.contains("$")) tests.add(n.substring(0, n.length() - ".class".length()));
        }
        Collections.sort(tests);
        return tests;
    }

    /** Prints one line per finished test and keeps the failures for the end. */
    static final class Outcome implements TestExecutionListener {
        final AtomicInteger passed = new AtomicInteger(), failed = new AtomicInteger(), skipped = new AtomicInteger();
        private final List<String> failures = Collections.synchronizedList(new ArrayList<>());
        private final java.util.Map<String, Long> started = new java.util.concurrent.ConcurrentHashMap<>();

        @Override public void executionStarted(TestIdentifier id) {
            started.put(id.getUniqueId(), System.nanoTime());
        }

        @Override public void executionSkipped(TestIdentifier id, String reason) {
            if (!id.isTest()) return;
            skipped.incrementAndGet();
            System.out.println("SKIP " + id.getLegacyReportingName() + ": " + reason);
        }

        @Override public void executionFinished(TestIdentifier id, TestExecutionResult result) {
            long ms = (System.nanoTime() - started.getOrDefault(id.getUniqueId(), System.nanoTime())) / 1_000_000;
            String name = displayName(id);
            switch (result.getStatus()) {
                case SUCCESSFUL -> {
                    if (!id.isTest()) return;
                    passed.incrementAndGet();
                    System.out.printf(Locale.ROOT, "PASS %s (%d ms)%n", name, ms);
                }
                case ABORTED -> {
                    if (!id.isTest()) return;
                    skipped.incrementAndGet();
                    System.out.printf(Locale.ROOT, "SKIP %s: %s%n", name, result.getThrowable().map(Throwable::getMessage).orElse(""));
                }
                case FAILED -> {
                    // A container failing (e.g. @BeforeAll) counts once, as a failure.
                    failed.incrementAndGet();
                    Throwable t = result.getThrowable().orElse(null);
                    System.out.printf(Locale.ROOT, "FAIL %s (%d ms): %s%n", name, ms, t == null ? "" : t);
                    java.io.StringWriter trace = new java.io.StringWriter();
                    if (t != null) t.printStackTrace(new java.io.PrintWriter(trace));
                    failures.add("FAIL " + name + "\n" + trace);
                }
            }
        }

        @Override public void reportingEntryPublished(TestIdentifier id, ReportEntry entry) {
            entry.getKeyValuePairs().forEach((k, v) -> System.out.println("  " + k + ": " + v));
        }

        private static String displayName(TestIdentifier id) {
            String uid = id.getUniqueId();
            int cls = uid.indexOf("[class:");
            String owner = cls < 0 ? "" : uid.substring(cls + 7, uid.indexOf(']', cls)) + ".";
            return owner + id.getDisplayName();
        }

        void printFailures() {
            if (failures.isEmpty()) return;
            System.out.println();
            System.out.println("=== failures ===");
            failures.forEach(System.out::println);
        }
    }
}
