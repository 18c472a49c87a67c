///usr/bin/env jbang "$0" "$@" ; exit $?
//JAVA 17+
//DEPS org.asciidoctor:asciidoctorj:3.0.0

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.asciidoctor.Asciidoctor;
import org.asciidoctor.Options;
import org.asciidoctor.SafeMode;

/**
 * scripts/manpages.java OUT FILE.adoc...: each AsciiDoc man page (scripts/clidocs.java's) as troff, OUT/NAME.1.
 * AsciidoctorJ (Asciidoctor on JRuby, from Maven Central) rather than Debian's asciidoctor: it needs only the Java
 * and JBang mqueue already needs, no root and no Ruby, pinned here like every other dependency.
 */
public class manpages {
    public static void main(String... args) throws IOException {
        if (args.length < 2) {
            System.err.println("usage: scripts/manpages.java OUT FILE.adoc...");
            System.exit(2);
        }
        Path out = Files.createDirectories(Path.of(args[0]));
        try (Asciidoctor asciidoctor = Asciidoctor.Factory.create()) {
            for (int i = 1; i < args.length; i++) {
                Path adoc = Path.of(args[i]);
                // Converted as text: safe mode keeps files from being written outside the working directory.
                String troff = asciidoctor.convert(Files.readString(adoc),
                    Options.builder().backend("manpage").standalone(true).safe(SafeMode.SAFE).build());
                Files.writeString(out.resolve(adoc.getFileName().toString().replaceFirst("\\.adoc$", ".1")), troff);
            }
        }
    }
}
