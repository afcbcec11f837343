package io.kvasir.it;

import io.kvasir.testing.Prompts;
import io.kvasir.testing.TrustedCa;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.stub.MetadataUtils;
import io.grpc.Status;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.StatusRuntimeException;
import io.grpc.Grpc;
import io.grpc.TlsChannelCredentials;
import io.kvasir.engine.BuiltinModel;
import io.kvasir.engine.Generator;
import io.kvasir.engine.Model;
import io.kvasir.engine.ModelFingerprint;
import io.kvasir.kv.block.BlockKey;
import io.kvasir.kv.client.KvStoreClient;
import io.kvasir.node.BlockKeyChain;
import io.kvasir.node.CacheSalts;
import io.kvasir.engine.backend.cpu.VectorCpuBackend;
import io.kvasir.engine.sampling.SamplingParams;
import io.kvasir.proto.v1.GenerateRequest;
import io.kvasir.proto.v1.GenerateResponse;
import io.kvasir.proto.v1.GenerationServiceGrpc;
import io.kvasir.proto.internal.v1.DecodeRequest;
import io.kvasir.proto.internal.v1.DecodeServiceGrpc;
import io.kvasir.proto.internal.v1.PrefillRequest;
import io.kvasir.proto.internal.v1.PrefillServiceGrpc;
import io.kvasir.proto.kv.v1.AnnounceRequest;
import io.kvasir.proto.kv.v1.KvStoreGrpc;
import io.kvasir.proto.kv.v1.NodeStatus;
import io.kvasir.proto.kv.v1.NodesRequest;
import io.kvasir.proto.kv.v1.LookupRequest;
import io.kvasir.telemetry.TraceCollector;
import io.kvasir.tls.DevCertificates;
import io.kvasir.tls.Role;
import io.kvasir.tls.Tls;
import io.kvasir.tls.TlsFiles;

/**
 * The cluster as an operator runs it: two kv-store members, a prefill node, a decode node and a
 * router, each its own {@code kvasir} process on loopback with mutual TLS between them (certificates
 * from {@code kvasir certs}), used through the public API over TLS; internal services refuse every
 * caller but the roles that need them; at the end the decode node and then a store member are
 * killed. The router's threshold (64 uncached tokens) sends the 150-token prompt through the
 * prefill node.
 */
class ClusterProcessTest {
    record Reply(int[] tokens, GenerateResponse last) {
    }

    static Reply call(GenerationServiceGrpc.GenerationServiceBlockingStub api, int[] prompt, int maxTokens) {
        GenerateRequest.Builder b = GenerateRequest.newBuilder().setMaxTokens(maxTokens);
        Arrays.stream(prompt).forEach(b::addPromptTokens);
        List<Integer> tokens = new ArrayList<>();
        GenerateResponse last = null;
        Iterator<GenerateResponse> it = api.withDeadlineAfter(120, TimeUnit.SECONDS).generate(b.build());
        while (it.hasNext()) {
            last = it.next();
            tokens.addAll(last.getTokenIdsList());
        }
        return new Reply(tokens.stream().mapToInt(Integer::intValue).toArray(), last);
    }

    static int[] prompt(int n, int seed) {
        return Prompts.of(n, seed, 373);
    }

    @Test
    void separateProcessesGenerateLikeTheEngineOverTlsReuseTheCacheAndSurviveKills(@TempDir Path dir) throws Exception {
        Path model = BuiltinModel.ensure(dir);
        Path certs = dir.resolve("certs");
        DevCertificates.write(certs, List.of(), Duration.ofDays(1));
        String tlsDir = certs.toString();
        Path secret = dir.resolve("cache-secret");
        CacheSalts salts = CacheSalts.createIfAbsent(secret);
        String cluster = "kvasir-it-" + UUID.randomUUID();
        String peers = "127.0.0.1:5941,127.0.0.1:5942";
        int grpc0 = freePort();
        int grpc1 = freePort();
        // the nodes and the router know the store by its members' gRPC addresses only: Hazelcast is the members'
        String storeAt = "127.0.0.1:" + grpc0 + ",127.0.0.1:" + grpc1;
        // every role sends its spans to an OTLP/HTTP receiver this test runs
        TraceCollector traces = new TraceCollector("127.0.0.1", 0);
        String otlp = "http://127.0.0.1:" + traces.port();
        var kv0 = CompletableFuture.supplyAsync(() -> KvasirProcess.start("kv-store member", "kv-store", "--cluster",
                cluster, "--name", "kv-0", "--port", "5941", "--grpc-port", Integer.toString(grpc0), "--peers", peers,
                "--host-budget", "128MiB", "--metrics-port", "0", "--replication-port", "0", "--tls-dir", tlsDir,
                "--otlp-endpoint", otlp, "--metrics-tenants"));
        var kv1 = CompletableFuture.supplyAsync(() -> KvasirProcess.start("kv-store member", "kv-store", "--cluster",
                cluster, "--name", "kv-1", "--port", "5942", "--grpc-port", Integer.toString(grpc1), "--peers", peers,
                "--host-budget", "128MiB", "--metrics-port", "0", "--replication-port", "0", "--tls-dir", tlsDir,
                "--otlp-endpoint", otlp, "--metrics-tenants"));
        // the nodes start beside the members (their store clients retry until a member is up)
        var startingPrefill = CompletableFuture.supplyAsync(() -> KvasirProcess.start("kvasir prefill", "prefill",
                "--model", model.toString(), "--kv-store", storeAt, "--grpc-port", "0", "--threads", "1",
                "--metrics-port", "0", "--tls-dir", tlsDir, "--cache-secret", secret.toString(), "--otlp-endpoint", otlp));
        var startingDecode = CompletableFuture.supplyAsync(() -> KvasirProcess.start("kvasir decode", "decode",
                "--model", model.toString(), "--kv-store", storeAt, "--grpc-port", "0", "--threads", "1",
                "--metrics-port", "0", "--tls-dir", tlsDir, "--cache-secret", secret.toString(), "--otlp-endpoint", otlp));
        try (traces; Tls asRouter = Tls.load(TlsFiles.inDir(certs, Role.ROUTER), Role.ROUTER);
                KvasirProcess store0 = kv0.get(120, TimeUnit.SECONDS);
                KvasirProcess store1 = kv1.get(120, TimeUnit.SECONDS);
                KvasirProcess prefill = startingPrefill.get(120, TimeUnit.SECONDS);
                KvasirProcess decode = startingDecode.get(120, TimeUnit.SECONDS);
                KvasirProcess router = KvasirProcess.start("kvasir router", "router", "--model", model.toString(),
                        "--prefill", "127.0.0.1:" + prefill.port(), // decode nodes: found by their heartbeats
                        "--kv-store", storeAt, "--prefill-threshold", "64", "--grpc-port", "0", "--http-port", "0",
                        "--tls-dir", tlsDir, "--cache-secret", secret.toString(), "--otlp-endpoint", otlp,
                        "--metrics-tenants");
                var backend = new VectorCpuBackend(1);
                Model local = Model.load(model, backend)) {
            // a public client: TLS trusting the cluster CA, no certificate of its own
            ManagedChannel channel = Grpc.newChannelBuilder("127.0.0.1:" + router.port(), TlsChannelCredentials
                    .newBuilder().trustManager(certs.resolve("ca.crt").toFile()).build()).build();
            try {
                awaitServing(channel); // until the router has seen the decode node's heartbeat
                var api = GenerationServiceGrpc.newBlockingStub(channel);
                int[] p = prompt(150, 5);
                // the client's own trace context: every role's spans of this request join its trace
                String traceId = "4bf92f3577b34da6a3ce929d0e0e4736", clientSpan = "00f067aa0ba902b7";
                Metadata traceparent = new Metadata();
                traceparent.put(Metadata.Key.of("traceparent", Metadata.ASCII_STRING_MARSHALLER),
                        "00-" + traceId + "-" + clientSpan + "-01");
                Reply cold = call(api.withInterceptors(MetadataUtils.newAttachHeadersInterceptor(traceparent)), p, 16);
                assertArrayEquals(new Generator(local, local.transformer().kvCacheType("auto")).generate(p, 16, SamplingParams.GREEDY, false, t -> { }).tokens(),
                        cold.tokens(), "the cluster's tokens are the single-process engine's");
                assertEquals(0, cold.last().getUsage().getCachedPromptTokens());

                assertOneTraceAcrossRoles(traces, traceId, clientSpan);
                assertTheHttpApiContinuesTraces(traces, router, TrustedCa.sslContext(certs.resolve("ca.crt")),
                        model.getFileName().toString().replace(".gguf", ""));

                Reply warm = awaitCached(api, p, 16, 144);
                assertArrayEquals(cold.tokens(), warm.tokens());

                // the next turn finds the blocks of the first, including those made while decoding
                int[] turn2 = Arrays.copyOf(p, p.length + cold.tokens().length + 4);
                System.arraycopy(cold.tokens(), 0, turn2, p.length, cold.tokens().length);
                for (int i = p.length + cold.tokens().length; i < turn2.length; i++) {
                    turn2[i] = 50 + i % 200;
                }
                Reply next = awaitCached(api, turn2, 8, 160);
                assertEquals(160, next.last().getUsage().getCachedPromptTokens(), "150 + 15 computed tokens: 10 blocks");

                // Hazelcast is the members' own: the router and the nodes hold no connection to its ports
                for (KvasirProcess role : List.of(router, prefill, decode)) {
                    Set<Integer> ports = role.remotePorts();
                    assertFalse(ports.contains(5941) || ports.contains(5942), "Hazelcast connections: " + ports);
                    assertTrue(ports.contains(grpc0) || ports.contains(grpc1), "the store through gRPC: " + ports);
                }

                // every role answers /metrics, with what it did: over HTTPS with its certificate, never in the clear
                var ca = TrustedCa.sslContext(certs.resolve("ca.crt"));
                assertThrows(Exception.class, () -> store0.scrape(), "plain HTTP to a member's metrics under TLS");
                String storeMetrics = store0.scrape(ca) + store1.scrape(ca);
                assertTrue(storeMetrics.contains("kvasir_kv_transfer_bytes_total{direction=\"put\",member=\"kv-0\"}"),
                        storeMetrics);
                double puts = KvasirProcess.sample(store0.scrape(ca), "kvasir_kv_puts_total")
                        + KvasirProcess.sample(store1.scrape(ca), "kvasir_kv_puts_total");
                assertTrue(puts >= 10, "the members stored the blocks: " + puts);
                String prefillMetrics = prefill.scrape(ca);
                assertTrue(KvasirProcess.sample(prefillMetrics, "vllm:prompt_tokens_total") >= 150, prefillMetrics);
                String decodeMetrics = decode.scrape(ca);
                for (String name : new String[] {"vllm:num_requests_running", "vllm:num_requests_waiting",
                    "vllm:kv_cache_usage_perc", "vllm:generation_tokens_total"}) {
                    assertTrue(decodeMetrics.contains(name + "{"), name + " in\n" + decodeMetrics);
                }
                assertTrue(KvasirProcess.sample(decodeMetrics, "vllm:request_queue_time_seconds_count") >= 3, decodeMetrics);
                String routerMetrics = router.scrape(ca); // the router's HTTP port is HTTPS
                assertTrue(KvasirProcess.sample(routerMetrics, "vllm:request_queue_time_seconds_count") >= 3, routerMetrics);
                assertTrue(routerMetrics.contains("vllm:kv_cache_usage_perc{"), routerMetrics);
                // each role's exposition is one Prometheus reads, and the chart's dashboard asks only for what they export
                Set<String> exported = new java.util.TreeSet<>();
                for (String scrape : List.of(routerMetrics, prefillMetrics, decodeMetrics, store0.scrape(ca), store1.scrape(ca))) {
                    exported.addAll(PrometheusParser.names(PrometheusParser.parse(scrape)));
                }
                for (KvasirProcess role : List.of(router, prefill, decode, store0)) { // and as OpenMetrics, when asked
                    String om = role.scrape(ca, PrometheusParser.OPENMETRICS);
                    assertTrue(om.endsWith("# EOF\n"), om);
                    assertFalse(PrometheusParser.parse(om, true).isEmpty(), om);
                }
                Set<String> asked = HelmChartTest.dashboardMetrics(java.nio.file.Files.readString(
                        HelmChartTest.CHART.resolve("dashboards/kvasir.json")));
                asked.removeAll(exported);
                assertEquals(Set.of(), asked, "dashboard queries of metrics no role exports");

                // internal services take no caller but the roles that need them, and run nothing for the rest
                double prompted = KvasirProcess.sample(prefill.scrape(ca), "vllm:prompt_tokens_total");
                assertInternalServicesRefuseStrangers(certs, dir.resolve("other-ca"), prefill, decode, store0);
                assertEquals(prompted, KvasirProcess.sample(prefill.scrape(ca), "vllm:prompt_tokens_total"));

                // the decode node dies mid-stream: a clean error, never a wrong token
                GenerateRequest.Builder longRun = GenerateRequest.newBuilder().setMaxTokens(6000);
                Arrays.stream(prompt(40, 9)).forEach(longRun::addPromptTokens);
                Iterator<GenerateResponse> stream = api.withDeadlineAfter(120, TimeUnit.SECONDS).generate(longRun.build());
                assertTrue(stream.hasNext());
                stream.next();
                decode.kill();
                assertEndsCleanlyMidStream(stream);

                // a store member killed (SIGKILL): the survivor holds every block the cluster stored
                // keys under the cluster's secret: had any role salted without it, these would be missing
                List<BlockKey> stored = new BlockKeyChain(ModelFingerprint.of(local), local.transformer().kvCacheType("auto"), 16,
                        salts).keys("default", turn2, 160);
                try (KvStoreClient store = KvStoreClient.connect(List.of(storeAt.split(",")), asRouter)) {
                    assertEquals(0, missing(store, stored), "blocks the cluster stored, of " + stored.size());
                    store1.kill();
                    assertEquals(0, missing(store, stored), "blocks lost with the killed member, of " + stored.size());
                }
            } finally {
                channel.shutdownNow();
            }
        }
    }

    /**
     * The request's spans, as the roles exported them: one trace, rooted at the router's span under
     * the client's, and each hop nested under the call that made it: the router's prefill call over
     * the prefill node's work, which puts blocks into a store member; the router's decode call over
     * the decode node's queue wait and prefix lookup, which gets those blocks from a member.
     */
    private static void assertOneTraceAcrossRoles(TraceCollector traces, String traceId, String clientSpan)
            throws InterruptedException {
        List<TraceCollector.CollectedSpan> spans = eventually(traces, traceId, s -> checkOneTrace(s, clientSpan));
        System.out.println("the cold request's trace:\n" + TraceCollector.tree(spans));
    }

    /**
     * The spans of {@code traceId} once {@code check} passes on them. Each role exports in batches
     * (every 5 s by default), a child's batch sometimes before its parent's; after a minute,
     * {@code check}'s failure.
     */
    private static List<TraceCollector.CollectedSpan> eventually(TraceCollector traces, String traceId,
            java.util.function.Consumer<List<TraceCollector.CollectedSpan>> check) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (true) {
            List<TraceCollector.CollectedSpan> spans = traces.trace(traceId);
            try {
                check.accept(spans);
                return spans;
            } catch (AssertionError e) {
                if (System.nanoTime() > deadline) {
                    throw e;
                }
            }
            Thread.sleep(250);
        }
    }

    private static void checkOneTrace(List<TraceCollector.CollectedSpan> spans, String clientSpan) {
        String tree = TraceCollector.tree(spans);
        Map<String, TraceCollector.CollectedSpan> byId = new java.util.HashMap<>();
        spans.forEach(s -> byId.put(s.spanId(), s));
        List<TraceCollector.CollectedSpan> roots = spans.stream().filter(s -> !byId.containsKey(s.parentSpanId())).toList();
        assertEquals(1, roots.size(), "one root span, under the client's:\n" + tree);
        assertEquals(clientSpan, roots.get(0).parentSpanId(), tree);
        assertEquals("kvasir.v1.GenerationService/Generate", roots.get(0).name(), tree);
        assertEquals("kvasir-router", roots.get(0).service(), tree);
        for (String name : List.of("tokenize", "route", "prefix lookup", "prefill", "first token", "stream")) {
            assertTrue(has(spans, "kvasir-router", name), name + " in\n" + tree);
        }
        TraceCollector.CollectedSpan prefillCall = only(spans, "kvasir-prefill", "kvasir.internal.v1.PrefillService/Prefill");
        assertTrue(under(prefillCall, "kvasir-router", "prefill", byId), tree);
        TraceCollector.CollectedSpan decodeCall = only(spans, "kvasir-decode", "kvasir.internal.v1.DecodeService/Decode");
        assertTrue(under(decodeCall, "kvasir-router", "kvasir.v1.GenerationService/Generate", byId), tree);
        for (String phase : List.of("queue wait", "prefix lookup", "prefill")) {
            assertEquals(decodeCall.spanId(), only(spans, "kvasir-decode", phase).parentSpanId(), phase + " in\n" + tree);
        }
        assertTrue(spans.stream().anyMatch(s -> s.service().equals("kvasir-kv-store") && s.name().endsWith("/Put")
                && under(s, "kvasir-prefill", "kvasir.internal.v1.PrefillService/Prefill", byId)), "puts in\n" + tree);
        // the decode node fetched the prefill's blocks: through the members' shared memory (same host) or gRPC
        TraceCollector.CollectedSpan get = only(spans, "kvasir-decode", "kv get");
        assertTrue(under(get, "kvasir-decode", "prefix lookup", byId), tree);
        assertEquals("9", get.attributes().get("kvasir.blocks_found"), tree);
        assertTrue(get.attributes().get("kvasir.blocks_arena").equals("9") || spans.stream().anyMatch(s ->
                s.service().equals("kvasir-kv-store") && s.name().endsWith("/Get") && under(s, "kvasir-decode", "kv get",
                        byId)), "blocks not read from shared memory came from a member's Get\n" + tree);
        for (TraceCollector.CollectedSpan s : spans) {
            TraceCollector.CollectedSpan parent = byId.get(s.parentSpanId());
            assertTrue(parent == null || s.startNanos() >= parent.startNanos() - 5_000_000, // clocks: one host
                    s.name() + " starts before its parent " + parent + "\n" + tree);
        }
    }

    /** A completion through the OpenAI API with the caller's traceparent: its spans join that trace, down to the decode node. */
    private static void assertTheHttpApiContinuesTraces(TraceCollector traces, KvasirProcess router,
            javax.net.ssl.SSLContext ca, String modelId) throws Exception {
        String traceId = "0af7651916cd43dd8448eb211c80319c", clientSpan = "b7ad6b7169203331";
        try (var https = java.net.http.HttpClient.newBuilder().sslContext(ca).build()) {
            var answer = https.send(java.net.http.HttpRequest.newBuilder(java.net.URI.create("https://localhost:"
                    + router.metricsPort() + "/v1/completions")).header("Content-Type", "application/json")
                    .header("traceparent", "00-" + traceId + "-" + clientSpan + "-01")
                    .POST(java.net.http.HttpRequest.BodyPublishers.ofString("{\"model\": \"" + modelId
                            + "\", \"prompt\": \"the model\", \"max_tokens\": 2}")).build(),
                    java.net.http.HttpResponse.BodyHandlers.ofString());
            assertEquals(200, answer.statusCode(), answer.body());
        }
        eventually(traces, traceId, spans -> checkHttpTrace(spans, clientSpan));
    }

    private static void checkHttpTrace(List<TraceCollector.CollectedSpan> spans, String clientSpan) {
        String tree = TraceCollector.tree(spans);
        TraceCollector.CollectedSpan root = only(spans, "kvasir-router", "POST /v1/completions");
        assertEquals(clientSpan, root.parentSpanId(), tree);
        assertEquals("200", root.attributes().get("http.response.status_code"), tree);
        Map<String, TraceCollector.CollectedSpan> byId = new java.util.HashMap<>();
        spans.forEach(s -> byId.put(s.spanId(), s));
        assertTrue(under(only(spans, "kvasir-decode", "kvasir.internal.v1.DecodeService/Decode"), "kvasir-router",
                "POST /v1/completions", byId), tree);
        assertTrue(under(only(spans, "kvasir-router", "tokenize"), "kvasir-router", "POST /v1/completions", byId), tree);
    }

    private static boolean has(List<TraceCollector.CollectedSpan> spans, String service, String name) {
        return spans.stream().anyMatch(s -> s.service().equals(service) && s.name().equals(name));
    }

    private static TraceCollector.CollectedSpan only(List<TraceCollector.CollectedSpan> spans, String service, String name) {
        List<TraceCollector.CollectedSpan> found = spans.stream().filter(s -> s.service().equals(service)
                && s.name().equals(name)).toList();
        assertEquals(1, found.size(), service + " " + name + " in\n" + TraceCollector.tree(spans));
        return found.get(0);
    }

    /** Whether an ancestor of {@code span} is {@code service}'s span {@code name}. */
    private static boolean under(TraceCollector.CollectedSpan span, String service, String name,
            Map<String, TraceCollector.CollectedSpan> byId) {
        for (var s = byId.get(span.parentSpanId()); s != null; s = byId.get(s.parentSpanId())) {
            if (s.service().equals(service) && s.name().equals(name)) {
                return true;
            }
        }
        return false;
    }

    /**
     * Callers the prefill node, the decode node and a store member must refuse before any work: no
     * client certificate, a certificate from another CA, the public client's certificate, and a
     * decode node's certificate asserting a tenant to a prefill node.
     */
    private static void assertInternalServicesRefuseStrangers(Path certs, Path otherCa, KvasirProcess prefill,
            KvasirProcess decode, KvasirProcess store) throws Exception {
        DevCertificates.write(otherCa, List.of(), Duration.ofDays(1));
        var anonymous = TlsChannelCredentials.newBuilder().trustManager(certs.resolve("ca.crt").toFile()).build();
        var stranger = TlsChannelCredentials.newBuilder()
                .keyManager(otherCa.resolve("router.crt").toFile(), otherCa.resolve("router.key").toFile())
                .trustManager(certs.resolve("ca.crt").toFile()).build();
        try (Tls client = Tls.load(TlsFiles.inDir(certs, Role.CLIENT), Role.CLIENT);
                Tls decodeNode = Tls.load(TlsFiles.inDir(certs, Role.DECODE), Role.DECODE);
                Tls router = Tls.load(TlsFiles.inDir(certs, Role.ROUTER), Role.ROUTER)) {
            String prefillAt = "127.0.0.1:" + prefill.port();
            String decodeAt = "127.0.0.1:" + decode.port();
            for (var credentials : List.of(anonymous, stranger)) {
                assertEquals(Status.Code.UNAVAILABLE, refusal(prefillAt, credentials, PrefillServiceGrpc::newBlockingStub,
                        s -> s.prefill(PrefillRequest.newBuilder().setTenant("default").build())));
                assertEquals(Status.Code.UNAVAILABLE, refusal(decodeAt, credentials, DecodeServiceGrpc::newBlockingStub,
                        s -> s.decode(DecodeRequest.newBuilder().setTenant("default").build()).hasNext()));
                assertEquals(Status.Code.UNAVAILABLE, refusal(store.grpcAddress(), credentials, KvStoreGrpc::newBlockingStub,
                        s -> s.lookup(LookupRequest.newBuilder().setTenant("default").build())));
            }
            assertEquals(Status.Code.PERMISSION_DENIED, refusal(prefillAt, client.client(Role.PREFILL),
                    PrefillServiceGrpc::newBlockingStub, s -> s.prefill(PrefillRequest.newBuilder().setTenant("default").build())));
            assertEquals(Status.Code.PERMISSION_DENIED, refusal(decodeAt, client.client(Role.DECODE),
                    DecodeServiceGrpc::newBlockingStub, s -> s.decode(DecodeRequest.newBuilder().setTenant("default").build())
                            .hasNext()));
            assertEquals(Status.Code.PERMISSION_DENIED, refusal(store.grpcAddress(), client.client(Role.KV_STORE),
                    KvStoreGrpc::newBlockingStub, s -> s.lookup(LookupRequest.newBuilder().setTenant("default").build())));
            assertEquals(Status.Code.PERMISSION_DENIED, refusal(prefillAt, decodeNode.client(Role.PREFILL),
                    PrefillServiceGrpc::newBlockingStub, s -> s.prefill(PrefillRequest.newBuilder().setTenant("default").build())));
            // heartbeats draw prompts: only decode nodes publish them; they list every node's blocks: only routers read them
            assertEquals(Status.Code.PERMISSION_DENIED, refusal(store.grpcAddress(), router.client(Role.KV_STORE),
                    KvStoreGrpc::newBlockingStub, s -> s.announce(AnnounceRequest.newBuilder().setTtlSeconds(10)
                            .setNode(NodeStatus.newBuilder().setNodeId("127.0.0.1:1").setRole("decode")
                                    .setAddress("127.0.0.1:1")).build())));
            assertEquals(Status.Code.PERMISSION_DENIED, refusal(store.grpcAddress(), decodeNode.client(Role.KV_STORE),
                    KvStoreGrpc::newBlockingStub, s -> s.nodes(NodesRequest.getDefaultInstance())));
        }
    }

    /** The status a call through a fresh channel with {@code credentials} fails with. */
    private static <S extends io.grpc.stub.AbstractBlockingStub<S>> Status.Code refusal(String target,
            io.grpc.ChannelCredentials credentials, java.util.function.Function<ManagedChannel, S> stub,
            java.util.function.Consumer<S> call) {
        ManagedChannel channel = Grpc.newChannelBuilder(target, credentials).build();
        try {
            return assertThrows(StatusRuntimeException.class,
                    () -> call.accept(stub.apply(channel).withDeadlineAfter(20, TimeUnit.SECONDS))).getStatus().getCode();
        } finally {
            channel.shutdownNow();
        }
    }

    static int freePort() {
        return io.kvasir.tls.Ports.free();
    }

    private static long missing(KvStoreClient store, List<BlockKey> keys) throws Exception {
        return store.get("default", keys).stream().filter(b -> b == null).count();
    }

    /** The rest of a stream whose decode node died: a clean UNAVAILABLE saying so, never a wrong token. */
    static void assertEndsCleanlyMidStream(Iterator<GenerateResponse> stream) {
        var e = assertThrows(StatusRuntimeException.class, () -> {
            while (stream.hasNext()) {
                stream.next();
            }
        });
        assertEquals(Status.Code.UNAVAILABLE, e.getStatus().getCode(), e.getStatus().toString());
        assertTrue(e.getStatus().getDescription().contains("mid-stream"), e.getStatus().getDescription());
    }

    static void awaitServing(ManagedChannel channel) throws InterruptedException {
        var health = HealthGrpc.newBlockingStub(channel);
        for (int i = 0; i < 100; i++) {
            if (health.check(HealthCheckRequest.getDefaultInstance()).getStatus() == HealthCheckResponse.ServingStatus.SERVING) {
                return;
            }
            Thread.sleep(200);
        }
        throw new AssertionError("the router never became ready (no decode node announced itself)");
    }

    /** Blocks reach the store asynchronously after a request ends: ask again until they are there. */
    static Reply awaitCached(GenerationServiceGrpc.GenerationServiceBlockingStub api, int[] prompt, int maxTokens,
            int expectCached) throws InterruptedException {
        Reply r = null;
        for (int i = 0; i < 20; i++) {
            r = call(api, prompt, maxTokens);
            if (r.last().getUsage().getCachedPromptTokens() >= expectCached) {
                return r;
            }
            Thread.sleep(250);
        }
        return r;
    }
}
