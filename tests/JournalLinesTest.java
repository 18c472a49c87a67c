import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cli.Log;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Log's priority prefixes go where systemd reads them: only when stderr is the stream JOURNAL_STREAM
 * names (DEV:INODE). A child that inherits the variable with its stderr in a file writes plain lines.
 * (That journald then files them by priority is SystemdTest's, under systemd as PID 1.)
 */
@Tag("unit")
class JournalLinesTest {
    @TempDir Path tmp;

    static String devIno(Path p) throws Exception {
        Map<String, Object> a = Files.readAttributes(p, "unix:dev,ino");
        return a.get("dev") + ":" + a.get("ino");
    }

    @Test void prefixesOnlyWhenStderrIsTheJournalsStream() throws Exception {
        Path journal = Files.createFile(tmp.resolve("journal")), file = Files.createFile(tmp.resolve("file"));
        assertTrue(Log.stderrIsJournal(devIno(journal), journal));
        assertFalse(Log.stderrIsJournal(devIno(journal), file), "inherited, but stderr goes elsewhere");
        assertFalse(Log.stderrIsJournal(null, journal), "no JOURNAL_STREAM");
        assertFalse(Log.stderrIsJournal("garbage", journal));
        assertFalse(Log.stderrIsJournal("1:x", journal));
    }
}
