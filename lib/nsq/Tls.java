package nsq;

import java.io.EOFException;
import java.io.IOException;
import java.net.Socket;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.InvalidKeyException;
import java.security.KeyStore;
import java.security.Principal;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.Signature;
import java.security.cert.CertPathValidatorException;
import java.security.cert.CertificateException;
import java.security.cert.CertificateExpiredException;
import java.security.cert.CertificateNotYetValidException;
import java.security.cert.X509Certificate;
import java.security.interfaces.RSAPrivateKey;
import java.security.interfaces.RSAPublicKey;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.WeakHashMap;
import java.util.function.Supplier;
import java.util.regex.Pattern;
import javax.net.ssl.KeyManager;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLException;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509ExtendedKeyManager;
import javax.net.ssl.X509ExtendedTrustManager;
import javax.net.ssl.X509KeyManager;

/**
 * TLS to nsqd with the JDK's own TLS (go-nsq's tls_v1): after IDENTIFY grants it, the open TCP
 * connection is upgraded in place; nsqd's HTTPS port takes the same settings. nsqd's certificate
 * is checked against {@code --tls-ca} (or the JDK's trusted CAs) and must name the host we dialled,
 * as go-nsq checks it, unless {@code insecure}. A client certificate (for nsqd's
 * --tls-client-auth-policy) comes from PEM files ({@link Pem} says which key formats).
 *
 * <p>Only code that asked for TLS loads this class, and with it the JDK's TLS stack (~0.2 s).
 */
public final class Tls {
    private final SSLContext context;
    private final boolean insecure;
    private final String description;
    private final String clientCertificate; // its subject, or null
    private final CertificateRequests requests;

    private Tls(SSLContext context, boolean insecure, String description, String clientCertificate,
            CertificateRequests requests) {
        this.context = context;
        this.insecure = insecure;
        this.description = description;
        this.clientCertificate = clientCertificate;
        this.requests = requests;
    }

    /** The files TLS is set up from, so an error can name the option that named the file. */
    public enum Input { CA, CERT, KEY }

    /**
     * A file that cannot serve: unreadable (no such file, permission denied, a directory, too large),
     * not the PEM it should be, or a key that is not its certificate's ({@link #other} names the
     * certificate then). The message names the file; {@link #reason} is the rest.
     */
    public static final class BadFile extends IllegalArgumentException {
        public final Input input;
        public final Path file, other;
        public final String reason;

        BadFile(Input input, Path file, Path other, String reason, Throwable cause) {
            super(file + ": " + reason, cause);
            this.input = input;
            this.file = file;
            this.other = other;
            this.reason = reason;
        }
    }

    /**
     * Reads the files now, so a wrong one is a usage error at start. {@code ca} null: the JDK's
     * trusted CAs; {@code cert} and {@code key} both or neither, and the key must be the
     * certificate's (checked here: nsqd would only say it refused the handshake). IllegalArgumentException
     * ({@link BadFile} for a file) names the file.
     */
    public static Tls load(Path ca, Path cert, Path key, boolean insecure) {
        if ((cert == null) != (key == null)) throw new IllegalArgumentException("a client certificate needs both its "
            + "certificate and its key file");
        try {
            KeyManager[] keys = null;
            String client = "", subject = null;
            if (cert != null) {
                List<X509Certificate> chain = pem(Input.CERT, cert, () -> Pem.certificates(cert));
                PrivateKey k = pem(Input.KEY, key, () -> Pem.privateKey(key));
                String mismatch = mismatch(chain.get(0), k);
                if (mismatch != null) throw new BadFile(Input.KEY, key, cert, mismatch, null);
                KeyStore ks = KeyStore.getInstance("PKCS12");
                ks.load(null, null);
                ks.setKeyEntry("client", k, new char[0], chain.toArray(new X509Certificate[0]));
                KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
                kmf.init(ks, new char[0]);
                keys = kmf.getKeyManagers();
                subject = chain.get(0).getSubjectX500Principal().getName();
                client = ", client certificate " + subject;
            }
            TrustManager[] trust;
            if (insecure) {
                trust = new TrustManager[] {new TrustingAnything()};
            } else {
                KeyStore ts = null;
                if (ca != null) {
                    ts = KeyStore.getInstance("PKCS12");
                    ts.load(null, null);
                    int i = 0;
                    for (X509Certificate c : pem(Input.CA, ca, () -> Pem.certificates(ca))) ts.setCertificateEntry("ca"
                        + i++, c);
                }
                TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
                tmf.init(ts);
                trust = tmf.getTrustManagers();
            }
            SSLContext ctx = SSLContext.getInstance("TLS");
            CertificateRequests requests = new CertificateRequests(keys == null ? null : (X509KeyManager) keys[0]);
            ctx.init(new KeyManager[] {requests}, trust, null);
            String server = insecure ? "nsqd's certificate NOT checked" : ca != null ? "CA " + ca
                : "the JDK's trusted CAs";
            return new Tls(ctx, insecure, "TLS (" + server + client + ")", subject, requests);
        } catch (GeneralSecurityException | IOException e) {
            throw new IllegalArgumentException("cannot set up TLS: " + NsqException.describe(e), e);
        }
    }

    private static <T> T pem(Input input, Path file, Supplier<T> read) {
        try {
            return read.get();
        } catch (IllegalArgumentException e) {
            throw new BadFile(input, file, null, e.getMessage(), e);
        }
    }

    /**
     * Null when {@code key} is the private half of {@code cert}'s public key, else why not: a
     * signature made with the key must verify with the certificate (for RSA the moduli are
     * compared). A key of another algorithm is said as such. Measured at a cold start: EC P-256
     * 37-100 ms (median 51, 7 runs; most of it loading the classes the handshake's own signature
     * loads anyway), RSA 8-18 ms; only with --tls-cert.
     */
    static String mismatch(X509Certificate cert, PrivateKey key) {
        PublicKey pub = cert.getPublicKey();
        String subject = cert.getSubjectX500Principal().getName();
        String notIts = "it is not the private key of the certificate (" + subject + "): ";
        if (key instanceof RSAPrivateKey k) {
            if (!(pub instanceof RSAPublicKey r)) return notIts + "the key is RSA, the certificate's "
                + pub.getAlgorithm();
            return r.getModulus().equals(k.getModulus()) ? null : notIts + "another RSA key";
        }
        String algorithm = switch (key.getAlgorithm()) {
            case "EC" -> "SHA256withECDSA";
            case "Ed25519", "Ed448", "EdDSA" -> "EdDSA";
            default -> null; // RSASSA-PSS and others: left to the handshake
        };
        if (algorithm == null) return null;
        byte[] probe = "mqueue: does this key match its certificate?".getBytes(StandardCharsets.US_ASCII);
        try {
            Signature sign = Signature.getInstance(algorithm);
            sign.initSign(key);
            sign.update(probe);
            byte[] signature = sign.sign();
            Signature verify = Signature.getInstance(algorithm);
            verify.initVerify(pub);
            verify.update(probe);
            return verify.verify(signature) ? null : notIts + "another " + key.getAlgorithm() + " key";
        } catch (InvalidKeyException e) {
            return notIts + "the key is " + key.getAlgorithm() + ", the certificate's " + pub.getAlgorithm();
        } catch (GeneralSecurityException e) {
            return notIts + NsqException.describe(e);
        }
    }

    public SSLContext context() { return context; }

    /** True when nsqd's certificate is not checked at all. */
    public boolean insecure() { return insecure; }

    /** For a start-up log line: what is trusted, which client certificate. */
    @Override
    public String toString() { return description; }

    /** Parameters for a connection to {@code host}: its certificate must name it, unless insecure. */
    public SSLParameters parameters() {
        SSLParameters p = context.getDefaultSSLParameters();
        if (!insecure) p.setEndpointIdentificationAlgorithm("HTTPS");
        return p;
    }

    /**
     * Upgrades an identified connection in place (nsqd starts its side right after its IDENTIFY
     * answer). A certificate either side refuses, and any end of the connection but silence, is
     * nsqd refusing us ({@link #refusal}); silence is transient.
     */
    Socket handshake(Socket plain, HostPort peer, int timeoutMillis) throws IOException {
        SSLSocket s = (SSLSocket) context.getSocketFactory().createSocket(plain, peer.host(), peer.port(), true);
        s.setSSLParameters(parameters());
        s.setUseClientMode(true);
        plain.setSoTimeout(timeoutMillis);
        try {
            s.startHandshake();
        } catch (IOException e) {
            throw refusal(peer, s, e);
        }
        return s;
    }

    /**
     * What a failure during the TLS handshake on {@code tls}, or on the read of nsqd's OK right after it, means. nsqd
     * completed TCP and granted TLS in its IDENTIFY answer, so a certificate refused (by us or by nsqd), a TLS alert,
     * and also a reset, an end of stream or a broken pipe there are nsqd refusing us: fatal, one line that says which
     * option to look at, never retried. nsqd v1.2.1 speaks TLS 1.2, where a client certificate it refuses ends the
     * handshake with a reset as often as with an alert (the reset overtakes the alert: 19 of 20 tries here ended in
     * "Broken pipe", one in "handshake_failure"), so the refusal is explained from what the handshake showed: whether
     * nsqd asked for a client certificate, and whether we had one it would take. Only silence (a timeout) is an outage.
     */
    IOException refusal(HostPort peer, Socket tls, IOException e) {
        for (Throwable c = e; c != null; c = c.getCause()) {
            if (c instanceof SocketTimeoutException) return e; // silence: an outage
            // Our check of nsqd's certificate failed: that is about nsqd's certificate, whatever it asked of us.
            if (c instanceof CertificateException || c instanceof CertPathValidatorException) return failure(peer, e);
        }
        SSLException ssl = sslCause(e);
        String jdk = NsqException.describe(e);
        if (ssl != null && !(ssl.getCause() instanceof IOException) && !REFUSING_ALERT.matcher(jdk).find()) {
            // another alert (a TLS version or cipher nsqd does not take): the JDK's words say which
            return failure(peer, e);
        }
        String asked = requests.asked(tls), why;
        if (asked == null) {
            why = "it ended the TLS handshake (" + jdk + "); its log says why";
        } else if (asked.isEmpty()) {
            // The JDK sends only a certificate whose issuer is among the CAs nsqd names, so a stranger's shows up as
            // none.
            why = clientCertificate == null ? "it requires a client certificate (--tls-cert and --tls-key) (" + jdk
                + ")"
                : "it requires a client certificate signed by a CA it trusts (its --tls-root-ca-file), and ours ("
                + clientCertificate
                    + ") is not (" + jdk + ")";
        } else {
            why = "it refused our client certificate (" + clientCertificate
                + "): not signed by a CA it trusts (its --tls-root-ca-file), expired, or not for client "
                + "authentication; its log says which (" + jdk + ")";
        }
        NsqException fatal = new NsqException("TLS with nsqd " + peer + " failed: " + why, true, null);
        fatal.addSuppressed(e); // the JDK's exception, for -v's stack trace
        return fatal;
    }

    /** Alerts a TLS server sends when it will not take the client (its certificate, or the lack of one). */
    private static final Pattern REFUSING_ALERT =
        Pattern.compile("handshake_failure|bad_certificate|certificate_required|unknown_ca|certificate_unknown"
            + "|access_denied");

    /**
     * What a TLS failure means where only the JDK's exception is known (HTTPS): a certificate refused (by us or by
     * nsqd) is fatal and says which option to look at; a connection that broke is transient.
     */
    public IOException failure(HostPort peer, IOException e) {
        SSLException tls = sslCause(e);
        if (tls == null || tls.getCause() instanceof EOFException || tls.getCause() instanceof SocketException
            || tls.getCause() instanceof SocketTimeoutException) {
            return e;
        }
        // The JDK's words are in the message already; its exception rides along suppressed, for -v's stack trace.
        NsqException fatal = new NsqException("TLS with nsqd " + peer + " failed: " + explain(tls), true, null);
        fatal.addSuppressed(e);
        return fatal;
    }

    private static SSLException sslCause(Throwable e) {
        for (Throwable c = e; c != null; c = c.getCause()) if (c instanceof SSLException s) return s;
        return null;
    }

    /** The JDK's words, with what they mean and what to do about them. */
    String explain(SSLException e) {
        String jdk = NsqException.describe(e).replace("sun.security.provider.certpath.SunCertPathBuilderException: ",
            "")
            .replace("sun.security.validator.ValidatorException: ",
            "").replace("java.security.cert.CertPathValidatorException: ", "");
        // Signed by a CA we trust, but not valid now: the PKIX words ("path validation failed") do not say that.
        int at = -1;
        for (Throwable c = e; c != null; c = c.getCause()) if (c instanceof CertPathValidatorException v) at =
            v.getIndex();
        String which = at > 0 ? "a CA certificate in its chain" : "its certificate";
        for (Throwable c = e; c != null; c = c.getCause()) {
            if (c instanceof CertificateExpiredException) {
                return which + " has expired: nsqd needs a renewed --tls-cert (" + jdk + ")";
            }
            if (c instanceof CertificateNotYetValidException) {
                return which + " is not valid yet: nsqd's clock or ours is wrong (" + jdk + ")";
            }
        }
        return explain(jdk);
    }

    /** The JDK's words, with what to do about them. */
    String explain(String jdk) {
        if (jdk.contains("PKIX path") || jdk.contains("unable to find valid certification path")) {
            return "its certificate is not signed by a CA we trust; give the CA that signed it with --tls-ca (" + jdk
                + ")";
        }
        if (jdk.contains("No subject alternative") || jdk.contains("No name matching")) {
            return "its certificate does not name the host we connected to (" + jdk + ")";
        }
        if (jdk.contains("certificate_required")) {
            // The JDK sends only a certificate whose issuer is among the CAs nsqd names, so a stranger's shows up as
            // none.
            return clientCertificate == null ? "it requires a client certificate (--tls-cert and --tls-key) (" + jdk
                + ")"
                : "it requires a client certificate signed by a CA it trusts (its --tls-root-ca-file), and ours ("
                + clientCertificate
                    + ") is not (" + jdk + ")";
        }
        if (jdk.contains("bad_certificate") || jdk.contains("unknown_ca") || jdk.contains("certificate_unknown")) {
            return "it refused our client certificate (--tls-cert): not signed by a CA it trusts, or expired (" + jdk
                + ")";
        }
        return jdk;
    }

    /**
     * Our client certificate (if any), and a record, per connection, of whether nsqd asked for one and which the JDK
     * chose: "" none it would take, else its alias. With TLS 1.2 that is all a refusal that ends in a reset tells.
     */
    private static final class CertificateRequests extends X509ExtendedKeyManager {
        private final X509KeyManager keys; // null: no client certificate
        private final Map<Socket, String> asked = Collections.synchronizedMap(new WeakHashMap<>());

        CertificateRequests(X509KeyManager keys) { this.keys = keys; }

        /**
         * null: nsqd did not ask for a client certificate on {@code tls}; "": it did and we sent none; else the alias
         * sent.
         */
        String asked(Socket tls) { return asked.get(tls); }

        @Override public String chooseClientAlias(String[] keyType, Principal[] issuers, Socket socket) {
            String alias = keys == null ? null : keys.chooseClientAlias(keyType, issuers, socket);
            if (socket != null) asked.merge(socket, alias == null ? "" : alias, (was, now) -> was.isEmpty() ? now
                : was);
            return alias;
        }

        @Override public String chooseEngineClientAlias(String[] keyType, Principal[] issuers, SSLEngine engine) {
            return keys instanceof X509ExtendedKeyManager k ? k.chooseEngineClientAlias(keyType, issuers, engine)
                : null;
        }

        @Override public String[] getClientAliases(String keyType, Principal[] issuers) {
            return keys == null ? null : keys.getClientAliases(keyType, issuers);
        }

        @Override public X509Certificate[] getCertificateChain(String alias) { return keys == null ? null
            : keys.getCertificateChain(alias); }

        @Override public PrivateKey getPrivateKey(String alias) { return keys == null ? null
            : keys.getPrivateKey(alias); }

        // A client only: no server side.
        @Override public String[] getServerAliases(String keyType, Principal[] issuers) { return null; }
        @Override public String chooseServerAlias(String keyType, Principal[] issuers, Socket socket) { return null; }
    }

    /** --tls-insecure: accepts any certificate for any name (the checks are this manager's job, so none are done). */
    private static final class TrustingAnything extends X509ExtendedTrustManager {
        @Override public void checkClientTrusted(X509Certificate[] chain, String authType, Socket socket) {}
        @Override public void checkServerTrusted(X509Certificate[] chain, String authType, Socket socket) {}
        @Override public void checkClientTrusted(X509Certificate[] chain, String authType, SSLEngine engine) {}
        @Override public void checkServerTrusted(X509Certificate[] chain, String authType, SSLEngine engine) {}
        @Override public void checkClientTrusted(X509Certificate[] chain, String authType) {}
        @Override public void checkServerTrusted(X509Certificate[] chain, String authType) {}
        @Override public X509Certificate[] getAcceptedIssuers() { return new X509Certificate[0]; }
    }
}
