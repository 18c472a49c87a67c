package nsq;

import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.PrivateKey;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import util.SmallFile;

/**
 * PEM files as nsqd and openssl write them: certificates, and an unencrypted private key in
 * PKCS#8 ("BEGIN PRIVATE KEY": RSA, EC or Ed25519) or PKCS#1 ("BEGIN RSA PRIVATE KEY", wrapped
 * into PKCS#8 here). Encrypted keys and SEC1 EC keys ("BEGIN EC PRIVATE KEY") are refused with
 * the openssl command that converts them. Files are read with a bound ({@link #MAX_BYTES}). Errors
 * are IllegalArgumentException saying what is wrong with the file, without its name: the caller
 * knows which option named it.
 */
final class Pem {
    static final String CONVERT = "convert it with: openssl pkcs8 -topk8 -nocrypt -in KEY -out KEY.pk8";
    /** A key or a certificate chain is a few KiB; Mozilla's whole CA bundle ~220 KiB. */
    static final int MAX_BYTES = 1 << 20;
    private static final Pattern BLOCK = Pattern.compile("-----BEGIN ([A-Z0-9 ]+)-----([^-]*)-----END \\1-----");

    private Pem() {}

    /** Every certificate in the file (a chain or a CA bundle); at least one. */
    static List<X509Certificate> certificates(Path file) {
        List<X509Certificate> out = new ArrayList<>();
        Matcher m = BLOCK.matcher(read(file));
        try {
            CertificateFactory f = CertificateFactory.getInstance("X.509");
            while (m.find()) {
                if (m.group(1)
                    .equals("CERTIFICATE")) out.add((X509Certificate)
                    f.generateCertificate(new ByteArrayInputStream(base64(m))));
            }
        } catch (CertificateException e) {
            throw new IllegalArgumentException("not a valid certificate (" + e.getMessage() + ")", e);
        }
        if (out.isEmpty()) throw new IllegalArgumentException("no PEM certificate (-----BEGIN CERTIFICATE-----) in it");
        return out;
    }

    /** The private key in the file. */
    static PrivateKey privateKey(Path file) {
        Matcher m = BLOCK.matcher(read(file));
        while (m.find()) {
            String type = m.group(1);
            byte[] der = base64(m);
            switch (type) {
                case "PRIVATE KEY": return pkcs8(der);
                case "RSA PRIVATE KEY": return pkcs8(rsaPkcs1ToPkcs8(der));
                case "ENCRYPTED PRIVATE KEY":
                    throw new IllegalArgumentException("the key is encrypted; give an unencrypted one (readable only "
                        + "by its user): " + CONVERT);
                case "EC PRIVATE KEY":
                    throw new IllegalArgumentException("SEC1 EC keys are not read; " + CONVERT);
                default: // a certificate next to the key, parameters: skip
            }
        }
        throw new IllegalArgumentException("no PEM private key (-----BEGIN PRIVATE KEY----- or -----BEGIN RSA PRIVATE "
            + "KEY-----) in it");
    }

    private static PrivateKey pkcs8(byte[] der) {
        for (String algorithm : List.of("RSA", "EC", "Ed25519", "Ed448", "RSASSA-PSS")) {
            try {
                return KeyFactory.getInstance(algorithm).generatePrivate(new PKCS8EncodedKeySpec(der));
            } catch (GeneralSecurityException notThisOne) {
                // the next algorithm; PKCS#8 names its own, but KeyFactory needs one to start with
            }
        }
        throw new IllegalArgumentException(
            "a PKCS#8 key of an algorithm this JDK does not read (RSA, EC, Ed25519 are)");
    }

    /**
     * PKCS#8 PrivateKeyInfo around a PKCS#1 RSAPrivateKey: SEQUENCE { 0, SEQUENCE { rsaEncryption, NULL }, OCTET STRING
     * }.
     */
    static byte[] rsaPkcs1ToPkcs8(byte[] pkcs1) {
        byte[] algorithm = {0x30, 0x0d, 0x06, 0x09, 0x2a, (byte) 0x86, 0x48, (byte) 0x86, (byte) 0xf7, 0x0d, 0x01, 0x01,
            0x01, 0x05, 0x00};
        byte[] version = {0x02, 0x01, 0x00};
        byte[] octets = der(0x04, pkcs1);
        byte[] inner = new byte[version.length + algorithm.length + octets.length];
        System.arraycopy(version, 0, inner, 0, version.length);
        System.arraycopy(algorithm, 0, inner, version.length, algorithm.length);
        System.arraycopy(octets, 0, inner, version.length + algorithm.length, octets.length);
        return der(0x30, inner);
    }

    /** One DER element: tag, definite length, content. */
    private static byte[] der(int tag, byte[] content) {
        int n = content.length;
        byte[] length = n < 0x80 ? new byte[] {(byte) n}
            : n < 0x100 ? new byte[] {(byte) 0x81, (byte) n}
            : n < 0x10000 ? new byte[] {(byte) 0x82, (byte) (n >> 8), (byte) n}
            : new byte[] {(byte) 0x83, (byte) (n >> 16), (byte) (n >> 8), (byte) n};
        byte[] out = new byte[1 + length.length + n];
        out[0] = (byte) tag;
        System.arraycopy(length, 0, out, 1, length.length);
        System.arraycopy(content, 0, out, 1 + length.length, n);
        return out;
    }

    private static byte[] base64(Matcher block) {
        try {
            return Base64.getMimeDecoder().decode(block.group(2).strip());
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("its " + block.group(1) + " block is not base64", e);
        }
    }

    private static String read(Path file) {
        try {
            return new String(SmallFile.read(file, MAX_BYTES), StandardCharsets.ISO_8859_1);
        } catch (SmallFile.Unreadable e) {
            throw new IllegalArgumentException(e.reason(), e);
        }
    }
}
