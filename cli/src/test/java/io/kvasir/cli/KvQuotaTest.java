package io.kvasir.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import com.google.gson.JsonParser;

import io.kvasir.engine.BuiltinModel;
import io.kvasir.engine.Model;
import io.kvasir.engine.ModelFingerprint;
import io.kvasir.engine.backend.cpu.VectorCpuBackend;
import io.kvasir.node.EngineBlocks;
import io.kvasir.router.ApiKeys;
import io.kvasir.router.Tenant;
import io.kvasir.router.TenantLimits;

/** A tenant whose KV in the store fills its quota gets 429 at the router; another tenant is still served. */
class KvQuotaTest {
    @TempDir
    static Path cacheDir;

    private final HttpClient http = HttpClient.newHttpClient();

    @Test
    void aTenantAtItsKvQuotaGets429AndAnotherIsServed() throws Exception {
        Path model = BuiltinModel.ensure(cacheDir);
        int blockBytes;
        try (var backend = new VectorCpuBackend(1); Model m = Model.load(model, backend)) {
            blockBytes = new EngineBlocks(m.transformer().config(), ModelFingerprint.of(m), 16, m.transformer().kvCacheType("auto")).encodedBlockBytes();
        }
        long quota = blockBytes * 5L / 2; // two blocks fit, a third does not
        try (EmbeddedCluster cluster = new EmbeddedCluster(new EmbeddedCluster.Options(model, "127.0.0.1", 0, 0, 5897, 8,
                512, 16, 2, 256, 1, new ApiKeys(Map.of("key-a", Tenant.of("alpha"), "key-b", Tenant.of("beta"))),
                TenantLimits.none(), quota, EmbeddedCluster.Caching.DEFAULT, 2))) {
            // 40 prompt + 4 generated tokens: two full blocks, stored when the request ends
            var first = complete(cluster, "key-a");
            assertEquals(200, first.statusCode(), first.body());
            cluster.cache().flush();
            HttpResponse<String> refused = null;
            for (int i = 0; i < 40 && refused == null; i++) {
                var r = complete(cluster, "key-a");
                if (r.statusCode() == 429) {
                    refused = r;
                } else {
                    assertEquals(200, r.statusCode(), r.body());
                    Thread.sleep(250); // the router re-reads a tenant's usage once a second
                }
            }
            assertTrue(refused != null, "alpha, holding two blocks of a 2.5-block quota, is refused");
            assertTrue(refused.headers().firstValue("retry-after").isPresent());
            String message = JsonParser.parseString(refused.body()).getAsJsonObject().getAsJsonObject("error")
                    .get("message").getAsString();
            assertTrue(message.contains("'alpha'") && message.contains("quota"), message);
            assertEquals(200, complete(cluster, "key-b").statusCode(), "beta's quota is its own");

            String metrics = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + cluster.httpPort()
                    + "/metrics")).build(), HttpResponse.BodyHandlers.ofString()).body();
            assertFalse(metrics.contains("tenant=\""), "tenant names only when asked for: " + metrics);
            assertTrue(metrics.contains("kvasir_kv_puts_total"), metrics);
            cluster.labelTenants(true);
            metrics = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + cluster.httpPort()
                    + "/metrics")).build(), HttpResponse.BodyHandlers.ofString()).body();
            assertEquals(2.0 * blockBytes, sample(metrics, "kvasir_kv_tenant_bytes{tenant=\"alpha\"}"), metrics);
            assertTrue(sample(metrics, "kvasir_tenant_refused_total{tenant=\"alpha\"}") >= 1, metrics);
            assertTrue(sample(metrics, "kvasir_kv_puts_total") >= 2, metrics);
        }
    }

    private HttpResponse<String> complete(EmbeddedCluster cluster, String key) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + cluster.httpPort() + "/v1/completions"))
                .header("Authorization", "Bearer " + key).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString("{\"model\": \"kvasir-builtin-v2\", \"prompt\": " + TenantsTest.PROMPT
                        + ", \"max_tokens\": 4, \"temperature\": 0}")).build(), HttpResponse.BodyHandlers.ofString());
    }

    private static double sample(String metrics, String prefix) {
        return metrics.lines().filter(l -> l.startsWith(prefix + " ") || l.startsWith(prefix + "{"))
                .mapToDouble(l -> Double.parseDouble(l.substring(l.lastIndexOf(' ') + 1))).findFirst().orElse(Double.NaN);
    }
}
