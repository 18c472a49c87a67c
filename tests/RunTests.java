///usr/bin/env jbang "$0" "$@" ; exit $?
//JAVA 17+
//DEPS org.junit.jupiter:junit-jupiter-engine:5.11.4
//DEPS org.junit.platform:junit-platform-launcher:1.11.4
//DEPS info.picocli:picocli:4.7.7
//DEPS com.fasterxml.jackson.core:jackson-databind:2.18.2
//DEPS io.airlift:aircompressor:2.0.3
//DEPS com.kohlschutter.junixsocket:junixsocket-common:2.10.1
//DEPS com.kohlschutter.junixsocket:junixsocket-native-common:2.10.1
//SOURCES ../lib/util/*.java
//SOURCES ../lib/nsq/*.java ../lib/nsq/http/*.java ../lib/nsq/publish/*.java ../lib/nsq/subscribe/*.java
//SOURCES ../lib/cli/*.java ../lib/activation/*.java ../lib/events/*.java
//SOURCES ../lib/consume/*.java ../lib/produce/*.java ../lib/wake/*.java
//SOURCES ../lib/Nsq.java
//SOURCES ../producer.java ../consumer.java ../wakeup.java
//SOURCES support/*.java
//SOURCES *Test.java

import static org.junit.platform.engine.discovery.DiscoverySelectors.selectClass;
import static org.junit.platform.engine.discovery.DiscoverySelectors.selectMethod;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.URISyntaxException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.jar.JarFile;
import org.junit.platform.engine.DiscoverySelector;
import org.junit.platform.engine.TestExecutionResult;
import org.junit.platform.launcher.LauncherDiscoveryRequest;
import org.junit.platform.launcher.TagFilter;
import org.junit.platform.launcher.TestExecutionListener;
import org.junit.platform.launcher.TestPlan;
import org.junit.platform.launcher.TestIdentifier;
import org.junit.platform.launcher.core.LauncherDiscoveryRequestBuilder;
import org.junit.platform.launcher.core.LauncherFactory;

/**
 * Runs mqueue's tests: `./jbang tests/RunTests.java [Class[#method]...]`, in four tiers so a broken
 * parser fails in seconds: @Tag("unit") (no nsqd), then the real-nsqd tests, then @Tag("process")
 * (signals, socket activation, make targets, JBang), then @Tag("systemd") (the units under systemd as
 * PID 1 in systemd-nspawn containers; skipped, saying why, where that cannot run). Ends with "N passed, N failed, N
 * skipped"; exits 1 on any failure or when no test ran. JUnit's console launcher is not used: its summary is
 * not this line, and JBang packs classes into a jar where its classpath scan finds nothing, so the
 * test classes are listed from that jar here.
 */
public class RunTests {
    public static void main(String[] args) throws Exception {
        List<DiscoverySelector> selectors = new ArrayList<>();
        for (String arg : args.length > 0 ? List.of(args) : testClasses()) {
            selectors.add(arg.contains("#") ? selectMethod(arg) : selectClass(arg));
        }
        Outcome outcome = new Outcome();
        for (TagFilterSpec tier : List.of(new TagFilterSpec("unit", true), new TagFilterSpec("unit|process|systemd",
            false),
                new TagFilterSpec("process", true), new TagFilterSpec("systemd", true))) {
            LauncherDiscoveryRequestBuilder request = LauncherDiscoveryRequestBuilder.request()
                .selectors(selectors)
                .filters(tier.include ? TagFilter.includeTags(tier.tags)
                : TagFilter.excludeTags(tier.tags.split("\\|")))
                // A hung test fails alone instead of eating CI's time budget.
                .configurationParameter("junit.jupiter.execution.timeout.default", "180 s");
            if (tier.tags.equals("systemd")) {
                // The systemd tier's hosts mostly wait (boots, idle timeouts, a watchdog): its classes, and the
                // methods of a class marked @Execution(CONCURRENT), run at once. Other tiers stay sequential.
                request.configurationParameter("junit.jupiter.execution.parallel.enabled", "true")
                    .configurationParameter("junit.jupiter.execution.parallel.mode.default", "same_thread")
                    .configurationParameter("junit.jupiter.execution.parallel.mode.classes.default", "concurrent")
                    .configurationParameter("junit.jupiter.execution.parallel.config.strategy", "fixed")
                    .configurationParameter("junit.jupiter.execution.parallel.config.fixed.parallelism", "16");
            }
            LauncherFactory.create().execute(request.build(), outcome);
        }
        outcome.printFailures();
        System.out.printf(Locale.ROOT, "%d passed, %d failed, %d skipped%n", outcome.passed.get(), outcome.failed.get(),
            outcome.skipped.get());
        boolean ran = outcome.passed.get() + outcome.failed.get() > 0;
        if (!ran) System.out.println("error: no test ran");
        System.exit(outcome.failed.get() == 0 && ran ? 0 : 1);
    }

    private record TagFilterSpec(String tags, boolean include) {}

    /** Every top-level class named *Test in the jar this class was loaded from. */
    static List<String> testClasses() throws Exception {
        Path origin = Path.of(RunTests.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        List<String> tests = new ArrayList<>();
        try (JarFile jar = new JarFile(origin.toFile())) {
            jar.stream().map(e -> e.getName()).filter(n -> !n.contains("/") && n.endsWith("Test.class")
                && !n.contains("$"))
                .forEach(n -> tests.add(n.substring(0, n.length() - ".class".length())));
        }
        Collections.sort(tests);
        return tests;
    }

    /** One line per finished test; the failures again, with their stack traces, at the end. */
    static final class Outcome implements TestExecutionListener {
        final AtomicInteger passed = new AtomicInteger(), failed = new AtomicInteger(), skipped = new AtomicInteger();
        private final List<String> failures = Collections.synchronizedList(new ArrayList<>());
        private final Map<String, Long> started = new ConcurrentHashMap<>();
        private volatile TestPlan plan;

        @Override public void executionStarted(TestIdentifier id) { started.put(id.getUniqueId(), System.nanoTime()); }

        @Override public void testPlanExecutionStarted(TestPlan plan) { this.plan = plan; }

        /** A skipped class (e.g. the systemd tier where it cannot run) counts each of its tests, and says why once. */
        @Override public void executionSkipped(TestIdentifier id, String reason) {
            long tests = id.isTest() ? 1 : plan == null ? 0
                : plan.getDescendants(id).stream().filter(TestIdentifier::isTest).count();
            if (tests == 0) return;
            skipped.addAndGet((int) tests);
            System.out.println("SKIP " + (id.isTest() ? displayName(id) : id.getDisplayName() + " (" + tests
                + " tests)") + ": " + reason);
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
                    System.out.printf(Locale.ROOT, "SKIP %s: %s%n", name,
                        result.getThrowable().map(Throwable::getMessage).orElse(""));
                }
                case FAILED -> {
                    // A container failing (e.g. @BeforeAll) counts once, as a failure.
                    failed.incrementAndGet();
                    Throwable t = result.getThrowable().orElse(null);
                    System.out.printf(Locale.ROOT, "FAIL %s (%d ms): %s%n", name, ms, t == null ? "" : t);
                    StringWriter trace = new StringWriter();
                    if (t != null) t.printStackTrace(new PrintWriter(trace));
                    failures.add("FAIL " + name + "\n" + trace);
                }
            }
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
