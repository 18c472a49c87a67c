import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * Certificates made at test time with openssl (in every Debian image; ~0.3 s for the set), once per
 * test JVM, in a temp dir removed at exit: nothing is committed. A CA signs nsqd's certificate (for
 * 127.0.0.1) and two client certificates (EC in PKCS#8, RSA in PKCS#1); another CA signs a third,
 * which nsqd must refuse, and serves as the wrong CA for clients.
 */
final class TestCerts {
    private static TestCerts shared;

    final Path dir;
    final Path ca, serverCert, serverKey, clientCert, clientKey, rsaClientCert, rsaPkcs1Key, otherCa, otherClientCert,
        otherClientKey;

    private TestCerts(Path dir) {
        this.dir = dir;
        ca = dir.resolve("ca.pem");
        serverCert = dir.resolve("server.pem");
        serverKey = dir.resolve("server.key");
        clientCert = dir.resolve("client.pem");
        clientKey = dir.resolve("client.key");
        rsaClientCert = dir.resolve("rsa-client.pem");
        rsaPkcs1Key = dir.resolve("rsa-client.key");
        otherCa = dir.resolve("other-ca.pem");
        otherClientCert = dir.resolve("other-client.pem");
        otherClientKey = dir.resolve("other-client.key");
    }

    static synchronized TestCerts shared() {
        if (shared == null) {
            try {
                Path dir = Files.createTempDirectory("mqueue-certs-");
                Runtime.getRuntime().addShutdownHook(new Thread(() -> delete(dir)));
                shared = new TestCerts(dir).make();
            } catch (IOException | InterruptedException e) {
                throw new IllegalStateException("cannot make test certificates with openssl: " + e.getMessage(), e);
            }
        }
        return shared;
    }

    private TestCerts make() throws IOException, InterruptedException {
        Files.writeString(dir.resolve("server.ext"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n");
        Files.writeString(dir.resolve("client.ext"), "extendedKeyUsage=clientAuth\n");
        selfSignedCa("ca", "mqueue-test-ca");
        selfSignedCa("other-ca", "mqueue-other-ca");
        signed("server", "127.0.0.1", "ca", "server.ext", ecKey());
        signed("client", "mqueue-client", "ca", "client.ext", ecKey());
        signed("rsa-client", "mqueue-rsa-client", "ca", "client.ext",
            List.of("openssl", "genrsa", "-traditional", "-out", "rsa-client.key", "2048"));
        signed("other-client", "mqueue-stranger", "other-ca", "client.ext", ecKey());
        return this;
    }

    private static List<String> ecKey() { return List.of("openssl", "ecparam", "-name", "prime256v1", "-genkey",
        "-noout", "-out", "KEY"); }

    private void selfSignedCa(String name, String cn) throws IOException, InterruptedException {
        openssl("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
            name + ".key",
            "-out", name + ".pem", "-days", "2", "-subj", "/CN=" + cn,
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign");
    }

    /**
     * A key (made by {@code keyCommand}, KEY standing for its file), then a certificate for it signed by {@code ca}.
     */
    private void signed(String name, String cn, String ca, String ext, List<String> keyCommand) throws IOException,
            InterruptedException {
        List<String> key = new ArrayList<>();
        for (String w : keyCommand) key.add(w.equals("KEY") ? name + ".sec1" : w);
        openssl(key.toArray(String[]::new));
        String keyFile = name + ".key";
        // PKCS#8
        if (keyCommand.contains("KEY")) openssl("openssl", "pkcs8", "-topk8", "-nocrypt", "-in", name + ".sec1", "-out",
            keyFile);
        openssl("openssl", "req", "-new", "-key", keyFile, "-out", name + ".csr", "-subj", "/CN=" + cn);
        openssl("openssl", "x509", "-req", "-in", name + ".csr", "-CA", ca + ".pem", "-CAkey", ca + ".key",
            "-CAcreateserial",
            "-out", name + ".pem", "-days", "2", "-extfile", ext);
    }

    private void openssl(String... command) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true)
            .redirectOutput(dir.resolve("openssl.log").toFile()).start();
        if (!p.waitFor(30, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new IOException(String.join(" ", command) + ": no exit within 30 s");
        }
        if (p.exitValue() != 0) throw new IOException(String.join(" ", command) + " exited " + p.exitValue() + ": "
            + Files.readString(dir.resolve("openssl.log")));
    }

    static void delete(Path dir) {
        try (Stream<Path> files = Files.walk(dir)) {
            files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException e) {
            System.err.println("cannot delete " + dir + ": " + e.getMessage());
        }
    }
}
