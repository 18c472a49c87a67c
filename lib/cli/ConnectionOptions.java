package cli;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import nsq.Compression;
import nsq.HostPort;
import nsq.NsqConfig;
import nsq.Tls;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.ParseResult;
import util.Durations;
import util.Errors;
import util.SmallFile;

/**
 * The connection options every tool shares, declared once, in code ({@link DeclaredOptions}: a
 * consumer's start reads no annotations). Each takes its default from the environment variable NSQ's
 * own tooling conventions use.
 */
public final class ConnectionOptions {
    /** nsqd sends the secret to its auth server in a URL: a few hundred bytes at most in practice. */
    static final int MAX_SECRET_BYTES = 64 << 10;

    private ConnectionOptions() {}

    /** nsqd TCP addresses (publish and subscribe). */
    public static final class NsqdTcp implements DeclaredOptions {
        public List<HostPort> nsqd;

        @Override
        public void declare(CommandSpec spec) {
            spec.addOption(DeclaredOptions.list(HostPort.class, v -> nsqd = v, "--nsqd").paramLabel("HOST:PORT")
                .defaultValue("${env:NSQD_TCP_ADDRESS:-127.0.0.1:4150}")
                .description("nsqd TCP address; repeat or comma-separate for several (env NSQD_TCP_ADDRESS, default "
                    + "${DEFAULT-VALUE}).").build());
        }
    }

    /** nsqd HTTP addresses (stats, topic and channel admin). */
    public static final class NsqdHttp implements DeclaredOptions {
        public List<HostPort> nsqdHttp;

        @Override
        public void declare(CommandSpec spec) {
            spec.addOption(DeclaredOptions.list(HostPort.class, v -> nsqdHttp = v, "--nsqd-http")
                .paramLabel("HOST:PORT")
                .defaultValue("${env:NSQD_HTTP_ADDRESS:-127.0.0.1:4151}")
                .description("nsqd HTTP address; repeat or comma-separate for several (env NSQD_HTTP_ADDRESS, default "
                    + "${DEFAULT-VALUE}).").build());
        }
    }

    /** nsqlookupd HTTP addresses: when given, nsqd nodes are discovered through them. */
    public static final class LookupdHttp implements DeclaredOptions {
        public List<HostPort> lookupd;

        @Override
        public void declare(CommandSpec spec) {
            spec.addOption(DeclaredOptions.list(HostPort.class, v -> lookupd = v, "--lookupd", "--lookupd-http")
                .paramLabel("HOST:PORT").defaultValue("${env:NSQLOOKUPD_HTTP_ADDRESS}")
                .description("nsqlookupd HTTP address; repeat or comma-separate for several. When set, nsqd nodes are "
                    + "discovered through it (env NSQLOOKUPD_HTTP_ADDRESS).").build());
        }

        public boolean enabled() { return lookupd != null && !lookupd.isEmpty(); }

        /**
         * --lookupd or --nsqd, for a tool that reads through one of them. Both on the command line is
         * refused, as nsq_tail refuses it: discovery would make the explicit list moot, and using both
         * would read from an nsqd nsqlookupd does not list. One on the command line wins over the
         * other's environment variable; with neither on it, nsqlookupd (an nsqd address is always
         * there, from NSQD_TCP_ADDRESS or the default, so only NSQLOOKUPD_HTTP_ADDRESS says a choice).
         * {@code spec}: the command (null in tests that build the object by hand).
         */
        public void orNsqd(CommandSpec spec, NsqdTcp nsqd) {
            if (!enabled() || spec == null || spec.commandLine() == null
                || spec.commandLine().getParseResult() == null) return;
            ParseResult parsed = spec.commandLine().getParseResult();
            boolean nsqdGiven = parsed.hasMatchedOption("--nsqd");
            Cli.require(!(nsqdGiven && parsed.hasMatchedOption("--lookupd")),
                "--nsqd %s with --lookupd %s: give one of them "
                + "(--lookupd finds every nsqd that has the stream, --nsqd names the nsqd to read)",
                Cli.quote(list(nsqd.nsqd)), Cli.quote(list(lookupd)));
            if (nsqdGiven) lookupd = null; // the command line's --nsqd over NSQLOOKUPD_HTTP_ADDRESS
        }
    }

    /** Addresses as given: a,b. */
    static String list(List<HostPort> addresses) {
        return String.join(",", addresses.stream().map(HostPort::toString).toList());
    }

    /** How the NSQ client talks to nsqd: what IDENTIFY negotiates (TLS, AUTH, compression, heartbeats). */
    public static final class Client implements DeclaredOptions {
        public Duration heartbeatInterval;
        public boolean tls;
        public Path tlsCa;
        public Path tlsCert;
        public Path tlsKey;
        public boolean tlsInsecure;
        public String authSecret;
        public Path authSecretFile;
        public String compression;

        @Override
        public void declare(CommandSpec spec) {
            spec.addOption(DeclaredOptions.option(Duration.class, v -> heartbeatInterval = v, "--heartbeat-interval")
                .paramLabel("DURATION").defaultValue("${env:NSQ_HEARTBEAT_INTERVAL}")
                .description("How often nsqd sends heartbeats (NSQ's heartbeat_interval; env NSQ_HEARTBEAT_INTERVAL, "
                    + "default: nsqd's, 30s); a connection silent for two of them is dropped and made again.").build());
            spec.addOption(DeclaredOptions.option(boolean.class, v -> tls = v, "--tls")
                .defaultValue("${env:NSQ_TLS:-false}")
                .description("TLS to nsqd (it needs --tls-cert/--tls-key; NSQ's tls_v1), and HTTPS to its HTTP API "
                    + "(env NSQ_TLS).").build());
            spec.addOption(DeclaredOptions.option(Path.class, v -> tlsCa = v, "--tls-ca").paramLabel("FILE")
                .defaultValue("${env:NSQ_TLS_CA}")
                .description("PEM file of the CA(s) nsqd's certificate must be signed by; default: the JDK's trusted "
                    + "CAs. Implies --tls (env NSQ_TLS_CA).").build());
            spec.addOption(DeclaredOptions.option(Path.class, v -> tlsCert = v, "--tls-cert").paramLabel("FILE")
                .defaultValue("${env:NSQ_TLS_CERT}")
                .description("PEM client certificate (chain), for nsqd's --tls-client-auth-policy; needs --tls-key. "
                    + "Implies --tls (env NSQ_TLS_CERT).").build());
            spec.addOption(DeclaredOptions.option(Path.class, v -> tlsKey = v, "--tls-key").paramLabel("FILE")
                .defaultValue("${env:NSQ_TLS_KEY}")
                .description("The client certificate's private key: unencrypted PEM, PKCS#8 (BEGIN PRIVATE KEY: RSA, "
                    + "EC, Ed25519) or PKCS#1 RSA (BEGIN RSA PRIVATE KEY) (env NSQ_TLS_KEY).").build());
            spec.addOption(DeclaredOptions.option(boolean.class, v -> tlsInsecure = v, "--tls-insecure")
                .defaultValue("${env:NSQ_TLS_INSECURE:-false}")
                .description("Do not check nsqd's certificate at all (testing only: anyone in between can read and "
                    + "change messages). Implies --tls (env NSQ_TLS_INSECURE).").build());
            spec.addOption(DeclaredOptions.option(String.class, v -> authSecret = v, "--auth-secret")
                .paramLabel("SECRET").defaultValue("${env:NSQ_AUTH_SECRET}")
                .description("Secret for nsqd's AUTH (nsqd --auth-http-address). Prefer the env var NSQ_AUTH_SECRET "
                    + "or --auth-secret-file: a command line is visible to every user in ps.").build());
            spec.addOption(DeclaredOptions.option(Path.class, v -> authSecretFile = v, "--auth-secret-file")
                .paramLabel("FILE").defaultValue("${env:NSQ_AUTH_SECRET_FILE}")
                .description("Read the AUTH secret from FILE (one trailing newline ignored; an empty file means no "
                    + "secret), e.g. a systemd credential in $CREDENTIALS_DIRECTORY (env NSQ_AUTH_SECRET_FILE).")
                .build());
            spec.addOption(DeclaredOptions.option(String.class, v -> compression = v, "--compression")
                .paramLabel("snappy|deflate[:LEVEL]").defaultValue("${env:NSQ_COMPRESSION}")
                .description("Compress the connection both ways if nsqd offers it (its --snappy/--deflate, on by "
                    + "default): snappy, or deflate with LEVEL 1-9 (default 6; nsqd's side uses at most its "
                    + "--max-deflate-level) (env NSQ_COMPRESSION).").build());
        }

        private NsqConfig built;

        /** The client's configuration, logging into this tool's log; files are read once, on the first call. */
        public synchronized NsqConfig config() {
            if (built != null) return built;
            NsqConfig c = NsqConfig.defaults().withLogger(Log.nsq());
            if (heartbeatInterval != null) {
                Cli.require(heartbeatInterval.toMillis() >= 1000 && heartbeatInterval.toMillis() <= 60_000,
                    "--heartbeat-interval %s: must be 1s to 60s (nsqd's range)", Durations.format(heartbeatInterval));
                c = c.withHeartbeatInterval(heartbeatInterval);
            }
            if (tls || tlsCa != null || tlsCert != null || tlsKey != null || tlsInsecure) c = withTls(c);
            String secret = secret();
            if (secret != null) c = c.withAuthSecret(secret);
            if (compression != null && !compression.isBlank()) {
                try {
                    c = c.withCompression(Compression.parse(compression));
                } catch (IllegalArgumentException e) {
                    throw new Cli.UsageException("--compression " + Cli.quote(compression) + ": " + Compression.RULE);
                }
            }
            built = c;
            return c;
        }

        /** Returns a config, not a Tls: a Tls in a signature would load it with this class. */
        private NsqConfig withTls(NsqConfig c) {
            Cli.require((tlsCert == null) == (tlsKey == null),
                "--tls-cert and --tls-key: a client certificate needs both (got only %s)",
                tlsCert != null ? "--tls-cert" : "--tls-key");
            Cli.require(!(tlsInsecure && tlsCa != null),
                "--tls-insecure with --tls-ca: the CA would not be used; give one of them");
            Tls t;
            try {
                t = Tls.load(tlsCa, tlsCert, tlsKey, tlsInsecure);
            } catch (Tls.BadFile e) {
                String option = switch (e.input) {
                    case CA -> "--tls-ca";
                    case CERT -> "--tls-cert";
                    case KEY -> "--tls-key";
                };
                throw new Cli.UsageException(option + " " + Cli.quote(e.file) + (e.other != null
                    ? " does not match --tls-cert "
                    + Cli.quote(e.other) : "") + ": " + e.reason);
            } catch (IllegalArgumentException e) {
                throw new Cli.UsageException("TLS: " + e.getMessage());
            }
            if (tlsInsecure) {
                Log.warn("--tls-insecure: nsqd's certificate is NOT checked; anyone between us and nsqd can read and "
                    + "change the messages. Give the CA that signed it with --tls-ca instead");
            } else {
                Log.debug("to nsqd over %s", t);
            }
            return c.withTls(t);
        }

        /** --auth-secret, or the first line of --auth-secret-file; null when neither (or an empty file) gives one. */
        private String secret() {
            Cli.require(authSecret == null || authSecretFile == null,
                "--auth-secret with --auth-secret-file: give one of them");
            if (authSecretFile == null) return authSecret == null || authSecret.isEmpty() ? null : authSecret;
            String text;
            try {
                text = new String(SmallFile.read(authSecretFile, MAX_SECRET_BYTES), StandardCharsets.UTF_8);
            } catch (SmallFile.Unreadable e) {
                throw new Cli.UsageException("--auth-secret-file " + Cli.quote(authSecretFile) + ": " + e.reason());
            }
            try {
                if (Files.getFileStore(authSecretFile).supportsFileAttributeView("posix")
                        && Files.getPosixFilePermissions(authSecretFile).contains(PosixFilePermission.OTHERS_READ)) {
                    Log.warn("--auth-secret-file %s is readable by every user: chmod o-r it (or hand it over with "
                        + "systemd's LoadCredential=)",
                        Cli.quote(authSecretFile));
                }
            } catch (IOException e) {
                Log.debug("--auth-secret-file %s: cannot see who may read it (%s)", Cli.quote(authSecretFile),
                    Errors.oneLine(e));
            }
            if (text.endsWith("\n")) text = text.substring(0, text.length() - 1);
            if (text.endsWith("\r")) text = text.substring(0, text.length() - 1);
            Cli.require(!text.contains("\n"), "--auth-secret-file %s: the secret must be one line",
                Cli.quote(authSecretFile));
            return text.isEmpty() ? null : text;
        }
    }

    /** What a subscriber asks nsqd for its messages: how long it may hold one, and how nsqd buffers them. */
    public static final class Delivery implements DeclaredOptions {
        public Duration msgTimeout;
        public Integer outputBufferSize;
        public Duration outputBufferTimeout;

        @Override
        public void declare(CommandSpec spec) {
            spec.addOption(DeclaredOptions.option(Duration.class, v -> msgTimeout = v, "--msg-timeout")
                .paramLabel("DURATION").defaultValue("${env:NSQ_MSG_TIMEOUT}")
                .description("How long nsqd waits for a message's answer before it hands it to another consumer "
                    + "(NSQ's msg_timeout; env NSQ_MSG_TIMEOUT, default: nsqd's --msg-timeout, 60s; at most its "
                    + "--max-msg-timeout).").build());
            spec.addOption(DeclaredOptions.option(Integer.class, v -> outputBufferSize = v, "--output-buffer-size")
                .paramLabel("BYTES").defaultValue("${env:NSQ_OUTPUT_BUFFER_SIZE}")
                .description("Bytes nsqd buffers before writing messages to us (env NSQ_OUTPUT_BUFFER_SIZE, default: "
                    + "nsqd's, 16384; 64 to its --max-output-buffer-size, 65536).").build());
            spec.addOption(DeclaredOptions.option(Duration.class, v -> outputBufferTimeout = v,
                    "--output-buffer-timeout")
                .paramLabel("DURATION").defaultValue("${env:NSQ_OUTPUT_BUFFER_TIMEOUT}")
                .description("How long nsqd may hold buffered messages when more than one may be in flight (env "
                    + "NSQ_OUTPUT_BUFFER_TIMEOUT, default 25ms, nsqd's --min-output-buffer-timeout; nsqd's own default "
                    + "is 250ms). 0: no buffering, each message is written at once.").build());
        }

        /** {@code c} with these asked for. */
        public NsqConfig apply(NsqConfig c) {
            if (msgTimeout != null) {
                Cli.require(msgTimeout.toMillis() >= 1000, "--msg-timeout %s: must be at least 1s (nsqd's range)",
                    Durations.format(msgTimeout));
                c = c.withMsgTimeout(msgTimeout);
            }
            Cli.require(outputBufferSize == null || outputBufferSize >= 64 && outputBufferSize <= 65536,
                "--output-buffer-size %s: must be 64 to 65536 bytes (nsqd's default range)", outputBufferSize);
            Cli.require(outputBufferTimeout == null || outputBufferTimeout.isZero()
                || outputBufferTimeout.toMillis() >= 1,
                "--output-buffer-timeout %s: must be 0 (no buffering) or at least 1ms",
                    Durations.format(outputBufferTimeout == null ? Duration.ZERO : outputBufferTimeout));
            Cli.require(outputBufferSize == null || outputBufferTimeout == null || !outputBufferTimeout.isZero(),
                "--output-buffer-size with --output-buffer-timeout 0: no buffering means no buffer; give one of them");
            return outputBufferSize == null && outputBufferTimeout == null ? c : c.withOutputBuffer(outputBufferSize,
                outputBufferTimeout);
        }
    }

    /** -v for debug logs, in every tool. */
    public static final class Verbosity implements DeclaredOptions {
        public boolean verbose;

        @Override
        public void declare(CommandSpec spec) {
            spec.addOption(DeclaredOptions.option(boolean.class, v -> verbose = v, "-v", "--verbose")
                .description("Log debug details on stderr.").build());
        }
    }
}
