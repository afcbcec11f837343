package io.kvasir.tls;

import java.io.IOException;
import java.io.InputStream;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.attribute.FileTime;
import java.security.GeneralSecurityException;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.logging.Level;
import java.util.logging.Logger;

import javax.net.ssl.KeyManager;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.TrustManager;

import io.grpc.ChannelCredentials;
import io.grpc.ServerCredentials;
import io.grpc.TlsChannelCredentials;
import io.grpc.TlsServerCredentials;
import io.grpc.util.AdvancedTlsX509KeyManager;
import io.grpc.util.AdvancedTlsX509TrustManager;
import io.grpc.util.AdvancedTlsX509TrustManager.Verification;

/**
 * One role's TLS identity and trust, from PEM files re-read when they change on disk (cert-manager
 * renews certificates in place): credentials for its servers and for its channels to other roles.
 * Peers are checked by the cluster CA and the role their certificate names, never by host name:
 * pods are dialled by IP, which no certificate issued ahead of time can name.
 */
public final class Tls implements AutoCloseable {
    /** How often the files are checked for a change. */
    static final long RELOAD_SECONDS = 30;
    private static final Logger LOG = Logger.getLogger(Tls.class.getName());

    private final Role self;
    private final TlsFiles files;
    private final long reloadSeconds;
    private final AdvancedTlsX509KeyManager keys = new AdvancedTlsX509KeyManager();
    private final ScheduledExecutorService reloader = Executors.newSingleThreadScheduledExecutor(
            Thread.ofPlatform().daemon().name("tls-reload").factory());
    /** Every trust manager handed out, re-read with the CA file. */
    private final List<AdvancedTlsX509TrustManager> trusts = new CopyOnWriteArrayList<>();
    /** Callers' certificates, checked against the CA only (servers check roles per service). */
    private AdvancedTlsX509TrustManager callers;
    /** Channel credentials by the server roles they accept: one trust manager each, however many channels. */
    private final Map<Set<Role>, ChannelCredentials> clients = new ConcurrentHashMap<>();
    /** Modification times of cert, key and CA at the last read. */
    private FileTime[] lastRead;

    private Tls(Role self, TlsFiles files, long reloadSeconds) {
        this.self = self;
        this.files = files;
        this.reloadSeconds = reloadSeconds;
    }

    /**
     * Loads {@code files} for a process acting as {@code self}. Fails, naming the file, when one is
     * missing or unreadable, or when the certificate names another role.
     */
    public static Tls load(TlsFiles files, Role self) throws IOException, GeneralSecurityException {
        return load(files, self, RELOAD_SECONDS);
    }

    static Tls load(TlsFiles files, Role self, long reloadSeconds) throws IOException, GeneralSecurityException {
        files.check();
        requireRole(files, self);
        Tls tls = new Tls(self, files, reloadSeconds);
        try {
            tls.lastRead = modified(files);
            tls.keys.updateIdentityCredentials(files.cert().toFile(), files.key().toFile());
            tls.callers = tls.trust(null); // the CA file is read (and refused) now, not at the first call
        } catch (IOException | GeneralSecurityException | RuntimeException e) {
            tls.close();
            throw e;
        }
        tls.reloader.scheduleWithFixedDelay(tls::reloadIfChanged, reloadSeconds, reloadSeconds, TimeUnit.SECONDS);
        return tls;
    }

    /**
     * Re-reads the files when any changed. grpc-util can watch them too, but no more often than once
     * a minute; a failed read (a file caught mid-write) keeps the old credentials until the next look.
     */
    private void reloadIfChanged() {
        try {
            FileTime[] now = modified(files);
            if (Arrays.equals(now, lastRead)) {
                return;
            }
            requireRole(files, self); // a renewed certificate must still be this role's
            keys.updateIdentityCredentials(files.cert().toFile(), files.key().toFile());
            for (AdvancedTlsX509TrustManager trust : trusts) {
                trust.updateTrustCredentials(files.ca().toFile());
            }
            lastRead = now;
            LOG.info(() -> self.id() + ": reloaded TLS certificates from " + files.cert().getParent());
        } catch (IOException | GeneralSecurityException | RuntimeException e) {
            LOG.log(Level.WARNING, self.id() + ": cannot reload TLS certificates (keeping the current ones): " + e, e);
        }
    }

    private static FileTime[] modified(TlsFiles files) throws IOException {
        return new FileTime[] {Files.getLastModifiedTime(files.cert()), Files.getLastModifiedTime(files.key()),
            Files.getLastModifiedTime(files.ca())};
    }

    public Role self() {
        return self;
    }

    /**
     * A server's credentials: its own certificate, and callers' certificates checked against the CA,
     * required (internal services) or optional (the router's public API, where API keys are the
     * credential). Which role may call which service is {@link RoleAuthorization}'s business.
     */
    public ServerCredentials server(boolean requireClientCertificate) {
        return TlsServerCredentials.newBuilder().keyManager(keys).trustManager(callers)
                .clientAuth(requireClientCertificate ? TlsServerCredentials.ClientAuth.REQUIRE
                        : TlsServerCredentials.ClientAuth.OPTIONAL)
                .build();
    }

    /**
     * A JDK SSL context serving this role's certificate (re-read with the files), for servers that are
     * not gRPC: the router's HTTP API, where API keys are the credential and no client certificate is asked.
     */
    public SSLContext sslContext() throws GeneralSecurityException {
        SSLContext context = SSLContext.getInstance("TLS");
        context.init(new KeyManager[] {keys}, null, null);
        return context;
    }

    /**
     * A JDK SSL context for sockets between peers of one role that are not gRPC (the kv-store
     * members' replication port): this role's certificate, and a peer, calling or called, that must
     * hold one of {@code peers}' certificates.
     */
    public SSLContext peerContext(Role peer, Role... more) throws IOException, GeneralSecurityException {
        SSLContext context = SSLContext.getInstance("TLS");
        context.init(new KeyManager[] {keys}, new TrustManager[] {trust(EnumSet.of(peer, more))}, null);
        return context;
    }

    /** A channel's credentials: this role's certificate, and a server that must hold one of {@code servers}. */
    public ChannelCredentials client(Role server, Role... more) throws IOException, GeneralSecurityException {
        Set<Role> roles = EnumSet.of(server, more);
        ChannelCredentials credentials = clients.get(roles);
        if (credentials == null) {
            credentials = TlsChannelCredentials.newBuilder().keyManager(keys).trustManager(trust(roles)).build();
            ChannelCredentials raced = clients.putIfAbsent(roles, credentials);
            credentials = raced != null ? raced : credentials;
        }
        return credentials;
    }

    /** The CA's certificates, re-read when the file changes; peers must also name one of {@code roles} (null: any). */
    private AdvancedTlsX509TrustManager trust(Set<Role> roles) throws IOException, GeneralSecurityException {
        AdvancedTlsX509TrustManager trust = AdvancedTlsX509TrustManager.newBuilder()
                .setVerification(Verification.CERTIFICATE_ONLY_VERIFICATION)
                .setSslSocketAndEnginePeerVerifier(roles == null ? null : new RoleVerifier(roles))
                .build();
        trust.updateTrustCredentials(files.ca().toFile());
        trusts.add(trust);
        return trust;
    }

    private static void requireRole(TlsFiles files, Role self) throws IOException, CertificateException {
        Role named = Role.of(firstCertificate(files)).orElseThrow(() -> new CertificateException(files.cert()
                + " names no Kvasir role (expected one subject alternative name URI " + self.uri() + ")"));
        if (named != self) {
            throw new CertificateException(files.cert() + " is a " + named.id() + " certificate (" + named.uri()
                    + "), not " + self.id() + "'s");
        }
    }

    private static X509Certificate firstCertificate(TlsFiles files) throws IOException, CertificateException {
        try (InputStream in = Files.newInputStream(files.cert())) {
            var certs = CertificateFactory.getInstance("X.509").generateCertificates(in);
            if (certs.isEmpty()) {
                throw new CertificateException(files.cert() + " holds no PEM certificate");
            }
            return (X509Certificate) certs.iterator().next();
        }
    }

    @Override
    public void close() {
        reloader.shutdownNow();
    }

    /** Refuses a server whose certificate (already checked against the CA) names none of the expected roles. */
    private record RoleVerifier(Set<Role> expected) implements AdvancedTlsX509TrustManager.SslSocketAndEnginePeerVerifier {
        @Override
        public void verifyPeerCertificate(X509Certificate[] chain, String authType, Socket socket)
                throws CertificateException {
            check(chain);
        }

        @Override
        public void verifyPeerCertificate(X509Certificate[] chain, String authType, SSLEngine engine)
                throws CertificateException {
            check(chain);
        }

        private void check(X509Certificate[] chain) throws CertificateException {
            Role named = chain.length == 0 ? null : Role.of(chain[0]).orElse(null);
            if (named == null || !expected.contains(named)) {
                throw new CertificateException("the peer's certificate names "
                        + (named == null ? "no Kvasir role" : named.uri()) + "; expected "
                        + expected.stream().map(Role::uri).toList());
            }
        }
    }
}
