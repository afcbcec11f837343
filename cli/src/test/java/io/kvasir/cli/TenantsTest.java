package io.kvasir.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.Map;
import java.util.Set;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

import com.google.gson.JsonParser;

import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.MetadataUtils;
import io.kvasir.engine.BuiltinModel;
import io.kvasir.proto.v1.GenerateRequest;
import io.kvasir.proto.v1.GenerationServiceGrpc;
import io.kvasir.router.ApiKeys;
import io.kvasir.router.Tenant;
import io.kvasir.router.TenantLimits;

/** `serve` with API keys: who may call, and that tenants never share cached KV. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class TenantsTest {
    @TempDir
    static Path cacheDir;

    private EmbeddedCluster cluster;
    private final HttpClient http = HttpClient.newHttpClient();
    private ManagedChannel channel;

    @BeforeAll
    void start() {
        cluster = new EmbeddedCluster(new EmbeddedCluster.Options(BuiltinModel.ensure(cacheDir), "127.0.0.1", 0, 0,
                5896, 8, 512, 16, 2, 256, 1, new ApiKeys(Map.of("key-a",
                Tenant.of("alpha"), "key-b", Tenant.of("beta"), "key-c1", new Tenant("gamma", 1, Set.of("public"), false),
                "key-d1", new Tenant("delta", 2, Set.of("public", "docs"), false))),
                new TenantLimits(1, 0)));
        cluster.labelTenants(true); // the tests read per-tenant counters
        channel = NettyChannelBuilder.forAddress("127.0.0.1", cluster.apiPort()).usePlaintext().build();
    }

    @AfterAll
    void stop() {
        channel.shutdownNow();
        cluster.close();
    }

    static final String PROMPT = "[1, 17, 42, 99, 120, 7, 3, 250, 61, 18, 33, 4, 90, 210, 11, 8, 77, 150, 5, 44, 12, 13, "
            + "14, 15, 16, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 34]";

    HttpResponse<String> complete(String key) throws Exception {
        return complete(key, PROMPT, "");
    }

    HttpResponse<String> complete(String key, String prompt, String extra) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + cluster.httpPort()
                + "/v1/completions")).header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(
                        "{\"model\": \"kvasir-builtin-v2\", \"prompt\": " + prompt + ", \"max_tokens\": 4, "
                        + "\"temperature\": 0" + extra + "}"));
        if (key != null) {
            b.header("Authorization", "Bearer " + key);
        }
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    static int cached(HttpResponse<String> r) {
        return JsonParser.parseString(r.body()).getAsJsonObject().getAsJsonObject("usage")
                .getAsJsonObject("prompt_tokens_details").get("cached_tokens").getAsInt();
    }

    @Test
    void aMissingOrWrongKeyIsRefusedOnBothApis() throws Exception {
        for (String key : new String[] {null, "key-c"}) {
            var r = complete(key);
            assertEquals(401, r.statusCode(), r.body());
            assertEquals("invalid_api_key", JsonParser.parseString(r.body()).getAsJsonObject().getAsJsonObject("error")
                    .get("code").getAsString());
            Metadata headers = new Metadata();
            if (key != null) {
                headers.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer " + key);
            }
            var stub = GenerationServiceGrpc.newBlockingStub(channel)
                    .withInterceptors(MetadataUtils.newAttachHeadersInterceptor(headers));
            var e = assertThrows(StatusRuntimeException.class, () -> stub.generate(GenerateRequest.newBuilder()
                    .setPrompt("hi").setMaxTokens(2).build()).hasNext());
            assertEquals(Status.Code.UNAUTHENTICATED, e.getStatus().getCode());
        }
        var health = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + cluster.httpPort() + "/health"))
                .build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(200, health.statusCode(), "health needs no key");
    }

    @Test
    void aTenantOverItsLimitGets429WhileAnotherIsServed() throws Exception {
        // alpha may have 1 request in flight: a long one holds the slot
        var longOne = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
            try {
                return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + cluster.httpPort()
                        + "/v1/completions")).header("Authorization", "Bearer key-a").POST(HttpRequest.BodyPublishers
                        .ofString("{\"model\": \"kvasir-builtin-v2\", \"prompt\": [1, 5, 9], \"max_tokens\": 3000, "
                                + "\"temperature\": 0, \"ignore_eos\": true}")).build(), HttpResponse.BodyHandlers.ofString());
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
        Thread.sleep(500);
        var refused = complete("key-a");
        assertEquals(429, refused.statusCode(), refused.body());
        assertTrue(refused.headers().firstValue("retry-after").isPresent());
        assertEquals("rate_limit_error", JsonParser.parseString(refused.body()).getAsJsonObject().getAsJsonObject("error")
                .get("type").getAsString());
        assertEquals(200, complete("key-b").statusCode(), "beta is not held back by alpha's limit");
        assertEquals(200, longOne.get(120, java.util.concurrent.TimeUnit.SECONDS).statusCode());
        assertEquals(200, complete("key-a").statusCode(), "the slot is free again");
    }

    /** A sample's value in /metrics (0 if absent). */
    double metric(String sample) throws Exception {
        String metrics = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + cluster.httpPort()
                + "/metrics")).build(), HttpResponse.BodyHandlers.ofString()).body();
        return metrics.lines().filter(l -> l.startsWith(sample + " ")).mapToDouble(l -> Double.parseDouble(
                l.substring(sample.length() + 1))).findFirst().orElse(0);
    }

    @Test
    void twoTenantsSamePromptShareNoCache() throws Exception {
        String hits = "vllm:prefix_cache_hits_total{model_name=\"kvasir-builtin-v2\"}";
        String betaCached = "kvasir_tenant_cached_prompt_tokens_total{tenant=\"beta\"}";
        String alphaCached = "kvasir_tenant_cached_prompt_tokens_total{tenant=\"alpha\"}";
        double hits0 = metric(hits), beta0 = metric(betaCached), alpha0 = metric(alphaCached);
        var a1 = complete("key-a");
        assertEquals(200, a1.statusCode(), a1.body());
        cluster.cache().flush();
        assertEquals(32, cached(complete("key-a")), "alpha's repeat hits its own blocks");
        assertEquals(0, cached(complete("key-b")), "beta, same prompt, hits nothing of alpha's");
        assertEquals(0, metric(betaCached) - beta0, "beta's counters say so too");
        cluster.cache().flush();
        assertEquals(32, cached(complete("key-b")), "and then its own");
        assertEquals(32, metric(alphaCached) - alpha0);
        assertEquals(32, metric(betaCached) - beta0);
        assertEquals(64, metric(hits) - hits0, "vllm:prefix_cache_hits_total counts both repeats, nothing else");
    }

    @Test
    void aSharedNamespaceIsSharedOnlyByTheTenantsAllowedIt() throws Exception {
        String prompt = "[1, 300, 301, 302, 303, 304, 305, 306, 307, 308, 309, 310, 311, 312, 313, 314, 315, 316, 317, "
                + "318, 319, 320, 321, 322, 323, 324, 325, 326, 327, 328, 329, 330, 331, 332, 333, 334, 335, 336, 337, 338]";
        String salt = ", \"cache_salt\": \"public\"";
        var first = complete("key-c1", prompt, salt);
        assertEquals(200, first.statusCode(), first.body());
        assertEquals(0, cached(first));
        cluster.cache().flush();
        assertEquals(32, cached(complete("key-d1", prompt, salt)), "delta may use 'public': it finds gamma's blocks");
        assertEquals(0, cached(complete("key-b", prompt, salt)), "beta may not: its salt is ignored, its own cache is empty");
        assertEquals(0, cached(complete("key-d1", prompt, "")), "without the salt delta uses its own cache");
        assertEquals(0, cached(complete("key-d1", prompt, ", \"cache_salt\": \"docs\"")), "another namespace, empty");
        var wrongType = complete("key-d1", prompt, ", \"cache_salt\": 7");
        assertEquals(400, wrongType.statusCode(), wrongType.body());
        assertTrue(wrongType.body().contains("cache_salt"), wrongType.body());
    }
}
