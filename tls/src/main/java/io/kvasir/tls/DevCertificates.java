package io.kvasir.tls;

import java.io.IOException;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.PrivateKey;
import java.security.SecureRandom;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.security.spec.PKCS8EncodedKeySpec;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Date;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.ExtendedKeyUsage;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.asn1.x509.KeyPurposeId;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.cert.X509v3CertificateBuilder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509ExtensionUtils;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.operator.OperatorCreationException;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;

/**
 * A development CA and a certificate for every role ({@code bin/kvasir certs}), as CockroachDB's
 * {@code cockroach cert} does: {@code ca.crt}/{@code ca.key}, then {@code NAME.crt}/{@code NAME.key}
 * for router, prefill, decode, kv-store and client. Keys are EC P-256, certificates carry the role's
 * SPIFFE ID and, for clients that check host names, the given hosts plus localhost. An existing CA
 * in the directory is kept and signs the new certificates, so re-running with more hosts keeps
 * every peer's trust. For production, a real CA (cert-manager) issues the same names.
 */
public final class DevCertificates {
    static final String CA_CERT = "ca.crt";
    static final String CA_KEY = "ca.key";
    private static final Duration CA_VALIDITY = Duration.ofDays(3650);
    private static final SecureRandom RANDOM = new SecureRandom();

    private DevCertificates() {
    }

    /** Writes the CA (unless one is there) and every role's certificate into {@code dir}; the files written. */
    public static List<Path> write(Path dir, List<String> hosts, Duration validity)
            throws IOException, GeneralSecurityException {
        Files.createDirectories(dir);
        List<Path> written = new ArrayList<>();
        KeyPair ca;
        X509Certificate caCert;
        Path caCertFile = dir.resolve(CA_CERT);
        Path caKeyFile = dir.resolve(CA_KEY);
        if (Files.exists(caCertFile) && Files.exists(caKeyFile)) {
            caCert = readCertificate(caCertFile);
            ca = new KeyPair(caCert.getPublicKey(), readKey(caKeyFile));
        } else {
            ca = newKeyPair();
            X500Name name = new X500Name("CN=Kvasir development CA,O=Kvasir");
            caCert = sign(new JcaX509v3CertificateBuilder(name, serial(), notBefore(), notAfter(CA_VALIDITY), name,
                    ca.getPublic())
                    .addExtension(Extension.basicConstraints, true, new BasicConstraints(true))
                    .addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.keyCertSign | KeyUsage.cRLSign))
                    .addExtension(Extension.subjectKeyIdentifier, false, extensions().createSubjectKeyIdentifier(
                            ca.getPublic())), ca.getPrivate());
            writeCertificate(caCertFile, caCert);
            writeKey(caKeyFile, ca.getPrivate());
            written.add(caCertFile);
            written.add(caKeyFile);
        }
        for (Role role : Role.values()) {
            KeyPair pair = newKeyPair();
            X509Certificate cert = sign(new JcaX509v3CertificateBuilder(caCert, serial(), notBefore(),
                    notAfter(validity), new X500Name("CN=" + role.id() + ",O=Kvasir"), pair.getPublic())
                    .addExtension(Extension.basicConstraints, true, new BasicConstraints(false))
                    .addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.digitalSignature))
                    .addExtension(Extension.extendedKeyUsage, false, new ExtendedKeyUsage(new KeyPurposeId[] {
                        KeyPurposeId.id_kp_serverAuth, KeyPurposeId.id_kp_clientAuth}))
                    .addExtension(Extension.subjectAlternativeName, false, alternativeNames(role, hosts))
                    .addExtension(Extension.subjectKeyIdentifier, false,
                            extensions().createSubjectKeyIdentifier(pair.getPublic()))
                    .addExtension(Extension.authorityKeyIdentifier, false,
                            extensions().createAuthorityKeyIdentifier(caCert)), ca.getPrivate());
            Path certFile = dir.resolve(role.id() + ".crt");
            Path keyFile = dir.resolve(role.id() + ".key");
            writeCertificate(certFile, cert);
            writeKey(keyFile, pair.getPrivate());
            written.add(certFile);
            written.add(keyFile);
        }
        return written;
    }

    private static GeneralNames alternativeNames(Role role, List<String> hosts) {
        Set<String> all = new LinkedHashSet<>(List.of("localhost", "127.0.0.1"));
        all.addAll(hosts);
        List<GeneralName> names = new ArrayList<>();
        names.add(new GeneralName(GeneralName.uniformResourceIdentifier, role.uri()));
        for (String h : all) {
            names.add(new GeneralName(isAddress(h) ? GeneralName.iPAddress : GeneralName.dNSName, h));
        }
        return new GeneralNames(names.toArray(GeneralName[]::new));
    }

    private static boolean isAddress(String host) {
        return host.matches("[0-9.]+") || host.contains(":");
    }

    private static X509Certificate sign(X509v3CertificateBuilder builder, PrivateKey issuer)
            throws GeneralSecurityException {
        try {
            return new JcaX509CertificateConverter().getCertificate(builder.build(
                    new JcaContentSignerBuilder("SHA256withECDSA").build(issuer)));
        } catch (OperatorCreationException e) {
            throw new GeneralSecurityException("cannot sign a certificate: " + e.getMessage(), e);
        }
    }

    private static JcaX509ExtensionUtils extensions() throws GeneralSecurityException {
        return new JcaX509ExtensionUtils();
    }

    private static KeyPair newKeyPair() throws GeneralSecurityException {
        KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
        g.initialize(new ECGenParameterSpec("secp256r1"), RANDOM);
        return g.generateKeyPair();
    }

    private static BigInteger serial() {
        return new BigInteger(127, RANDOM);
    }

    private static Date notBefore() {
        return Date.from(Instant.now().minus(Duration.ofHours(1))); // clocks between hosts drift
    }

    private static Date notAfter(Duration validity) {
        return Date.from(Instant.now().plus(validity));
    }

    private static void writeCertificate(Path file, X509Certificate cert) throws IOException, GeneralSecurityException {
        Files.writeString(file, pem("CERTIFICATE", cert.getEncoded()), StandardCharsets.US_ASCII);
    }

    /** A private key as unencrypted PKCS#8 PEM, readable by its owner only. */
    private static void writeKey(Path file, PrivateKey key) throws IOException {
        Files.deleteIfExists(file);
        if (FileSystems.getDefault().supportedFileAttributeViews().contains("posix")) {
            Files.createFile(file, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
        }
        Files.writeString(file, pem("PRIVATE KEY", key.getEncoded()), StandardCharsets.US_ASCII);
    }

    private static String pem(String type, byte[] der) {
        return "-----BEGIN " + type + "-----\n" + Base64.getMimeEncoder(64, new byte[] {'\n'}).encodeToString(der)
                + "\n-----END " + type + "-----\n";
    }

    private static X509Certificate readCertificate(Path file) throws IOException, GeneralSecurityException {
        try (var in = Files.newInputStream(file)) {
            return (X509Certificate) CertificateFactory.getInstance("X.509").generateCertificate(in);
        }
    }

    private static PrivateKey readKey(Path file) throws IOException, GeneralSecurityException {
        String text = Files.readString(file, StandardCharsets.US_ASCII);
        int begin = text.indexOf("-----BEGIN PRIVATE KEY-----");
        int end = text.indexOf("-----END PRIVATE KEY-----");
        if (begin < 0 || end < begin) {
            throw new GeneralSecurityException(file + " is not an unencrypted PKCS#8 PEM key (BEGIN PRIVATE KEY)");
        }
        byte[] der = Base64.getMimeDecoder().decode(text.substring(begin + 27, end));
        return KeyFactory.getInstance("EC").generatePrivate(new PKCS8EncodedKeySpec(der));
    }

}
