package io.kvasir.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

import javax.net.ssl.SSLHandshakeException;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.kvasir.engine.BuiltinModel;
import io.kvasir.node.CacheSalts;
import io.kvasir.router.ApiKeys;
import io.kvasir.router.TenantLimits;
import io.kvasir.testing.TrustedCa;
import io.kvasir.tls.DevCertificates;
import io.kvasir.tls.Role;
import io.kvasir.tls.Tls;
import io.kvasir.tls.TlsFiles;

/**
 * {@code serve --tls-dir}: both public ports speak TLS with the router certificate from
 * {@code kvasir certs}; {@code generate --server --tls-ca} and an HTTPS client trusting the CA are
 * served, a plaintext caller and a client that does not trust the CA are not.
 */
class ServeTlsTest {
    @TempDir
    static Path dir;

    @Test
    void thePublicPortsServeTlsToClientsThatTrustTheCa() throws Exception {
        Path certs = dir.resolve("certs");
        DevCertificates.write(certs, List.of(), Duration.ofDays(1));
        try (Tls tls = Tls.load(TlsFiles.inDir(certs, Role.ROUTER), Role.ROUTER);
                EmbeddedCluster cluster = new EmbeddedCluster(new EmbeddedCluster.Options(BuiltinModel.ensure(dir),
                        "127.0.0.1", 0, 0, 5893, 8, 256, 16, 1, 256, 1, ApiKeys.open(), TenantLimits.none(), 0,
                        EmbeddedCluster.Caching.DEFAULT, 1, tls, CacheSalts.keyed(new byte[32])))) {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            int code = Kvasir.run(new String[] {"generate", "--server", "127.0.0.1:" + cluster.apiPort(), "--tls-ca",
                certs.resolve("ca.crt").toString(), "--prompt-tokens", "1,5,9", "--max-tokens", "3", "--json"},
                new PrintStream(out, true, StandardCharsets.UTF_8), System.err);
            assertEquals(0, code, out.toString(StandardCharsets.UTF_8));
            assertTrue(out.toString(StandardCharsets.UTF_8).contains("\"completion_tokens\":3"),
                    out.toString(StandardCharsets.UTF_8));

            HttpClient https = HttpClient.newBuilder().sslContext(TrustedCa.sslContext(certs.resolve("ca.crt"))).build();
            HttpResponse<String> models = https.send(HttpRequest.newBuilder(URI.create("https://localhost:"
                    + cluster.httpPort() + "/v1/models")).build(), HttpResponse.BodyHandlers.ofString());
            assertEquals(200, models.statusCode(), models.body());

            assertThrows(SSLHandshakeException.class, () -> HttpClient.newHttpClient().send(HttpRequest.newBuilder(
                    URI.create("https://localhost:" + cluster.httpPort() + "/v1/models")).build(),
                    HttpResponse.BodyHandlers.ofString()), "the JDK's default trust store does not know the dev CA");
            ManagedChannel plaintext = NettyChannelBuilder.forAddress("127.0.0.1", cluster.apiPort()).usePlaintext()
                    .build();
            try {
                var e = assertThrows(StatusRuntimeException.class, () -> HealthGrpc.newBlockingStub(plaintext)
                        .withDeadlineAfter(10, TimeUnit.SECONDS).check(HealthCheckRequest.getDefaultInstance()));
                assertEquals(Status.Code.UNAVAILABLE, e.getStatus().getCode());
            } finally {
                plaintext.shutdownNow();
            }
        }
    }
}
