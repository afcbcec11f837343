package io.kvasir.tls;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.InputStream;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import io.grpc.ChannelCredentials;
import io.grpc.Grpc;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.ServerInterceptors;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.TlsChannelCredentials;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.protobuf.services.HealthStatusManager;

/**
 * Real certificates from {@link DevCertificates}, a real TLS server: a decode node's health
 * service that only routers may call, reached by every kind of caller.
 */
class TlsTest {
    @TempDir
    Path dir;
    @TempDir
    Path other;

    private Tls serverTls;
    private Server server;
    private final List<AutoCloseable> open = new java.util.ArrayList<>();

    @BeforeEach
    void start() throws Exception {
        DevCertificates.write(dir, List.of("kvasir-decode-0"), Duration.ofDays(1));
        serverTls = Tls.load(TlsFiles.inDir(dir, Role.DECODE), Role.DECODE, 1);
        HealthStatusManager health = new HealthStatusManager();
        server = Grpc.newServerBuilderForPort(0, serverTls.server(true))
                .addService(ServerInterceptors.intercept(health.getHealthService(),
                        new RoleAuthorization().allow(HealthGrpc.SERVICE_NAME, Role.ROUTER)))
                .build().start();
    }

    @AfterEach
    void stop() throws Exception {
        for (AutoCloseable c : open) {
            c.close();
        }
        server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        serverTls.close();
    }

    @Test
    void everyRoleGetsACertificateNamingItAndAPrivateKeyOnlyItsOwnerReads() throws Exception {
        for (Role role : Role.values()) {
            assertEquals(role, Role.of(certificate(dir.resolve(role.id() + ".crt"))).orElseThrow(), role.id());
            assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(
                    dir.resolve(role.id() + ".key"))));
        }
        byte[] ca = Files.readAllBytes(dir.resolve("ca.crt"));
        DevCertificates.write(dir, List.of("another-host"), Duration.ofDays(1));
        assertArrayEquals(ca, Files.readAllBytes(dir.resolve("ca.crt")), "an existing CA is kept and signs again");
        X509Certificate decode = certificate(dir.resolve("decode.crt"));
        decode.verify(certificate(dir.resolve("ca.crt")).getPublicKey());
        assertTrue(decode.getSubjectAlternativeNames().stream().anyMatch(n -> n.get(1).equals("another-host")));
    }

    @Test
    void aRouterCertificateIsServed() throws Exception {
        assertEquals(ServingStatus.SERVING, check(as(dir, Role.ROUTER, Role.DECODE)));
    }

    @Test
    void otherRolesAndPublicClientsAreDeniedAndCertificatelessCallersRefused() throws Exception {
        assertEquals(Status.Code.PERMISSION_DENIED, refusal(as(dir, Role.PREFILL, Role.DECODE)));
        assertEquals(Status.Code.PERMISSION_DENIED, refusal(as(dir, Role.CLIENT, Role.DECODE)));
        // no client certificate: the handshake itself fails
        ChannelCredentials anonymous = TlsChannelCredentials.newBuilder().trustManager(dir.resolve("ca.crt").toFile())
                .build();
        assertEquals(Status.Code.UNAVAILABLE, refusal(anonymous));
        // a router certificate from another CA (self-made): not trusted
        DevCertificates.write(other, List.of(), Duration.ofDays(1));
        ChannelCredentials stranger = TlsChannelCredentials.newBuilder()
                .keyManager(other.resolve("router.crt").toFile(), other.resolve("router.key").toFile())
                .trustManager(dir.resolve("ca.crt").toFile()).build();
        assertEquals(Status.Code.UNAVAILABLE, refusal(stranger));
    }

    @Test
    void aCallerRefusesAServerThatIsNotTheRoleItDialled() throws Exception {
        assertEquals(Status.Code.UNAVAILABLE, refusal(as(dir, Role.ROUTER, Role.PREFILL)));
    }

    @Test
    void aCertificateForAnotherRoleOrAMissingFileIsRefusedAtStartNamingTheFile() {
        TlsFiles swapped = new TlsFiles(dir.resolve("decode.crt"), dir.resolve("decode.key"), dir.resolve("ca.crt"));
        var wrong = assertThrows(CertificateException.class, () -> Tls.load(swapped, Role.ROUTER));
        assertTrue(wrong.getMessage().contains("decode.crt is a decode certificate"), wrong.getMessage());
        var missing = assertThrows(NoSuchFileException.class, () -> Tls.load(TlsFiles.inDir(other, Role.ROUTER),
                Role.ROUTER));
        assertTrue(missing.getMessage().contains("router.crt"), missing.getMessage());
    }

    @Test
    void certificatesRewrittenOnDiskAreTakenUpWithoutARestart() throws Exception {
        // a new CA and new certificates in place of the old (a rotation): the running server picks them up
        DevCertificates.write(other, List.of(), Duration.ofDays(1));
        for (String f : List.of("ca.crt", "ca.key", "decode.crt", "decode.key")) {
            Files.copy(other.resolve(f), dir.resolve(f), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        }
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        ServingStatus status = null;
        while (status == null && System.nanoTime() < deadline) {
            try {
                status = check(as(other, Role.ROUTER, Role.DECODE));
            } catch (StatusRuntimeException e) {
                Thread.sleep(200);
            }
        }
        assertEquals(ServingStatus.SERVING, status);
    }

    private ChannelCredentials as(Path certs, Role role, Role server) throws Exception {
        Tls tls = Tls.load(TlsFiles.inDir(certs, role), role, 1);
        open.add(tls);
        return tls.client(server);
    }

    private ServingStatus check(ChannelCredentials credentials) {
        ManagedChannel channel = Grpc.newChannelBuilder(new InetSocketAddress("127.0.0.1", server.getPort())
                .getHostString() + ":" + server.getPort(), credentials).build();
        try {
            return HealthGrpc.newBlockingStub(channel).withDeadlineAfter(10, TimeUnit.SECONDS)
                    .check(HealthCheckRequest.getDefaultInstance()).getStatus();
        } finally {
            channel.shutdownNow();
        }
    }

    private Status.Code refusal(ChannelCredentials credentials) {
        return assertThrows(StatusRuntimeException.class, () -> check(credentials)).getStatus().getCode();
    }

    private static X509Certificate certificate(Path file) throws Exception {
        try (InputStream in = Files.newInputStream(file)) {
            return (X509Certificate) CertificateFactory.getInstance("X.509").generateCertificate(in);
        }
    }
}
