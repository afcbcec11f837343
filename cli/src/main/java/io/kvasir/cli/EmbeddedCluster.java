package io.kvasir.cli;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.ServerInterceptors;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.protobuf.services.HealthStatusManager;
import io.grpc.protobuf.services.ProtoReflectionServiceV1;
import io.kvasir.decode.DecodeAnnouncer;
import io.kvasir.decode.DecodeEngine;
import io.kvasir.decode.DecodeGrpcService;
import io.kvasir.engine.Model;
import io.kvasir.engine.kv.KvCacheType;
import io.kvasir.engine.backend.cpu.VectorCpuBackend;
import io.kvasir.kv.client.KvStoreClient;
import io.kvasir.kv.store.KvStoreMember;
import io.kvasir.kv.store.StoreConfig;
import io.kvasir.engine.ModelFingerprint;
import io.kvasir.node.EngineBlocks;
import io.kvasir.node.NodeCaches;
import io.kvasir.node.PrefixCache;
import io.kvasir.node.StorePrefixCache;
import io.kvasir.prefill.PrefillEngine;
import io.kvasir.prefill.PrefillGrpcService;
import io.kvasir.proto.internal.v1.DecodeServiceGrpc;
import io.kvasir.proto.internal.v1.PrefillServiceGrpc;
import io.kvasir.proto.v1.GenerationServiceGrpc;
import io.kvasir.router.ApiKeys;
import io.kvasir.router.DecodeRoutes;
import io.kvasir.router.GenerationGrpcService;
import io.kvasir.router.KvAwarePlacement;
import io.kvasir.router.KvQuotaGate;
import io.kvasir.router.NodeLoads;
import io.kvasir.router.OpenAiHttpApi;
import io.kvasir.router.RouterMetrics;
import io.kvasir.router.TenantInterceptor;
import io.kvasir.router.TenantLimits;
import io.kvasir.tls.GrpcTransport;
import io.kvasir.tls.Tls;
import io.kvasir.node.CacheSalts;

/**
 * Every role in one JVM, wired as the separate processes are: a kv-store member (Hazelcast, host
 * tier), a prefill node and decode nodes (each behind its gRPC service on loopback, with the store
 * as prefix cache, decode nodes announcing their local tiers), and the router serving the public
 * API, which reaches the nodes over gRPC like any others. Each node has its own backend (a backend
 * serves one loop) and its own mapping of the model file.
 */
final class EmbeddedCluster implements AutoCloseable {
    /**
     * @param prefillThreshold prompts with at least this many uncached tokens go to the prefill node first
     * @param decodeNodes      how many decode nodes (1 for serve; tests run 2 to see KV-aware placement)
     * @param kvQuotaBytes     bytes each tenant may hold in the store (0: unlimited); at it, requests get 429
     * @param threads          CPU threads of each decode node's backend
     * @param prefillThreads   CPU threads of the prefill node's backend
     */
    record Options(Path model, String host, int grpcPort, int httpPort, int kvPort, int maxBatch, int kvBlocks,
            int blockSize, int threads, int prefillThreshold, int decodeNodes, ApiKeys apiKeys, TenantLimits limits,
            long kvQuotaBytes, Caching caching, int prefillThreads, Tls publicTls, CacheSalts salts, ServedModel served) {
        Options(Path model, String host, int grpcPort, int httpPort, int kvPort, int maxBatch, int kvBlocks,
                int blockSize, int threads, int prefillThreshold, int decodeNodes, ApiKeys apiKeys, TenantLimits limits,
                long kvQuotaBytes, Caching caching, int prefillThreads, Tls publicTls, CacheSalts salts) {
            this(model, host, grpcPort, httpPort, kvPort, maxBatch, kvBlocks, blockSize, threads, prefillThreshold,
                    decodeNodes, apiKeys, limits, kvQuotaBytes, caching, prefillThreads, publicTls, salts, ServedModel.AS_IS);
        }

        Options(Path model, String host, int grpcPort, int httpPort, int kvPort, int maxBatch, int kvBlocks,
                int blockSize, int threads, int prefillThreshold, int decodeNodes, ApiKeys apiKeys, TenantLimits limits,
                long kvQuotaBytes, Caching caching, int prefillThreads) {
            this(model, host, grpcPort, httpPort, kvPort, maxBatch, kvBlocks, blockSize, threads, prefillThreshold,
                    decodeNodes, apiKeys, limits, kvQuotaBytes, caching, prefillThreads, null, CacheSalts.plain());
        }

        Options(Path model, String host, int grpcPort, int httpPort, int kvPort, int maxBatch, int kvBlocks,
                int blockSize, int threads, int prefillThreshold, int decodeNodes, ApiKeys apiKeys, TenantLimits limits) {
            this(model, host, grpcPort, httpPort, kvPort, maxBatch, kvBlocks, blockSize, threads, prefillThreshold,
                    decodeNodes, apiKeys, limits, 0, Caching.DEFAULT, threads, null, CacheSalts.plain());
        }
    }

    /** Where prefixes are kept: nowhere, in each decode node's own pool, or also in the store's tiers. */
    enum PrefixCaching {
        /** Every prompt computed in full (vLLM's --no-enable-prefix-caching). */
        NONE,
        /** Each decode node's pool keeps finished blocks; no store, so no prefill nodes either. */
        LOCAL,
        /** The pools, and the store's host and SSD tiers behind them; long prompts go to a prefill node. */
        STORE
    }

    /**
     * How the cluster caches and routes.
     *
     * @param hostBudgetBytes the store member's host tier
     * @param ssdDir          the store's SSD tier, or null for none
     */
    record Caching(PrefixCaching prefix, DecodeRoutes.Routing routing, long hostBudgetBytes, Path ssdDir,
            long ssdBudgetBytes, String kvCacheDtype) {
        static final Caching DEFAULT = new Caching(PrefixCaching.STORE, DecodeRoutes.Routing.KV_AWARE, 1L << 30, null, 0);

        Caching(PrefixCaching prefix, DecodeRoutes.Routing routing, long hostBudgetBytes, Path ssdDir, long ssdBudgetBytes) {
            this(prefix, routing, hostBudgetBytes, ssdDir, ssdBudgetBytes, "auto");
        }
    }

    /** One decode node: its own model mapping, step loop, gRPC server and heartbeat. */
    record DecodeNode(String id, Model model, DecodeEngine engine, Server server, ManagedChannel channel,
            DecodeAnnouncer announcer) {
    }

    private static final java.util.concurrent.atomic.AtomicInteger INSTANCES = new java.util.concurrent.atomic.AtomicInteger();
    private final List<AutoCloseable> closing = new ArrayList<>(); // in reverse order of start
    private final KvStoreMember member;
    private final KvStoreClient store;
    private final StorePrefixCache cache;
    private final List<DecodeNode> decodeNodes = new ArrayList<>();
    private final KvAwarePlacement placement;
    private final Server apiServer;
    private final OpenAiHttpApi http;
    private final RouterMetrics metrics;

    EmbeddedCluster(Options o) {
        // unique per instance: a cluster started after another in this JVM must not join its member
        String cluster = "kvasir-serve-" + ProcessHandle.current().pid() + "-" + INSTANCES.incrementAndGet();
        try {
            Caching caching = o.caching();
            member = started(KvStoreMember.start(StoreConfig.local().withCluster(cluster).withPorts(o.kvPort(), 0)
                    .withPeers(List.of()).withBackupCount(0).withMemberName("serve-kv")
                    .withHostBudget(caching.hostBudgetBytes()).withSsd(caching.ssdDir(), caching.ssdBudgetBytes())
                    .withQuotas(java.util.Map.of(), o.kvQuotaBytes() > 0 ? o.kvQuotaBytes() : Long.MAX_VALUE)));
            store = started(KvStoreClient.connect(List.of(member.grpcAddress())));
            VectorCpuBackend firstBackend = started(new VectorCpuBackend(o.threads()));
            Model first = started(Model.load(o.model(), firstBackend));
            // one cache for every node: thread-safe, and one flush covers all their writes
            KvCacheType kvType = KvCacheTypes.of("serve", caching.kvCacheDtype(), first);
            cache = started(NodeCaches.storeCache(store, first, o.blockSize(), kvType, o.salts()));
            PrefixCache nodeCache = switch (caching.prefix()) {
                case NONE -> PrefixCache.none(kvType);
                case LOCAL -> PrefixCache.localOnly(cache.chain());
                case STORE -> cache;
            };
            for (int n = 0; n < o.decodeNodes(); n++) {
                decodeNodes.add(startDecodeNode(o, nodeCache, n == 0 ? firstBackend : null, n == 0 ? first : null));
            }
            List<ManagedChannel> prefillChannels = new ArrayList<>();
            if (caching.prefix() == PrefixCaching.STORE) { // a prefill node hands its KV over through the store
                VectorCpuBackend prefillBackend = started(new VectorCpuBackend(o.prefillThreads()));
                Model prefillModel = started(Model.load(o.model(), prefillBackend));
                PrefillEngine prefill = started(new PrefillEngine(prefillModel, cache, o.blockSize(), o.kvBlocks(), 64));
                Server prefillServer = serve(new PrefillGrpcService(prefill), PrefillServiceGrpc.SERVICE_NAME);
                prefillChannels.add(channel(prefillServer.getPort()));
            }
            placement = new KvAwarePlacement(store, cache.chain(), prefillChannels, o.prefillThreshold());

            var config = first.transformer().config();
            String modelId = o.served().name(o.model());
            metrics = new RouterMetrics(modelId);
            NodeLoads loads = started(new NodeLoads(store));
            metrics.watch(loads);
            member.store().registerMetrics(metrics.registry());
            if (o.kvQuotaBytes() > 0) {
                o.limits().withKvQuota(new KvQuotaGate(store, new EngineBlocks(config, ModelFingerprint.of(first),
                        o.blockSize(), kvType).encodedBlockBytes()));
            }
            GenerationGrpcService api = new GenerationGrpcService(first.tokenizer(), config.vocabSize(),
                    config.contextLength(), new DecodeRoutes(decodeNodes.stream().map(DecodeNode::channel).toList(),
                            decodeNodes.stream().map(DecodeNode::id).toList(), loads).routing(caching.routing()), placement,
                    metrics, o.limits());
            HealthStatusManager health = new HealthStatusManager();
            // the public ports: TLS with --tls-dir (client certificates optional); the roles inside talk in-process
            apiServer = GrpcTransport.publicServer(new InetSocketAddress(o.host(), o.grpcPort()), o.publicTls())
                    .addService(ServerInterceptors.intercept(api, new TenantInterceptor(o.apiKeys())))
                    .addService(health.getHealthService())
                    .addService(ProtoReflectionServiceV1.newInstance())
                    .build().start();
            closing.add(() -> shutdown(apiServer));
            health.setStatus("", ServingStatus.SERVING);
            health.setStatus(GenerationServiceGrpc.SERVICE_NAME, ServingStatus.SERVING);
            http = started(new OpenAiHttpApi(o.host(), o.httpPort(), modelId, api, o.served().chat(first), o.apiKeys(), metrics,
                    o.publicTls() == null ? null : o.publicTls().sslContext()));
        } catch (IOException e) {
            close();
            throw new UncheckedIOException("cannot start the gRPC servers: " + e.getMessage(), e);
        } catch (RuntimeException e) {
            close();
            throw e;
        } catch (Exception e) {
            close();
            throw new IllegalStateException("cannot start the HTTP server: " + e.getMessage(), e);
        }
    }

    /** A decode node, on the given backend and model or on new ones. */
    private DecodeNode startDecodeNode(Options o, PrefixCache nodeCache, VectorCpuBackend given, Model givenModel)
            throws IOException {
        VectorCpuBackend backend = given != null ? given : started(new VectorCpuBackend(o.threads()));
        Model model = givenModel != null ? givenModel : started(Model.load(o.model(), backend));
        DecodeEngine engine = started(new DecodeEngine(model, nodeCache, o.blockSize(), o.kvBlocks(), o.maxBatch(), 64));
        Server server = serve(new DecodeGrpcService(engine), DecodeServiceGrpc.SERVICE_NAME);
        String id = "127.0.0.1:" + server.getPort();
        DecodeAnnouncer announcer = started(new DecodeAnnouncer(store, id, engine));
        return new DecodeNode(id, model, engine, server, channel(server.getPort()), announcer);
    }

    private Server serve(io.grpc.BindableService service, String name) throws IOException {
        HealthStatusManager health = new HealthStatusManager();
        Server server = GrpcTransport.internalServer(NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0)))
                .addService(service)
                .addService(health.getHealthService()).addService(ProtoReflectionServiceV1.newInstance()).build().start();
        health.setStatus(name, ServingStatus.SERVING);
        closing.add(() -> shutdown(server));
        return server;
    }

    private ManagedChannel channel(int port) {
        ManagedChannel c = GrpcTransport.traced(NettyChannelBuilder.forAddress("127.0.0.1", port).usePlaintext()).build();
        closing.add(c::shutdownNow);
        return c;
    }

    private <T extends AutoCloseable> T started(T resource) {
        closing.add(resource);
        return resource;
    }

    /** Whether /metrics names tenants (the router's kvasir_tenant_*, the member's kvasir_kv_tenant_bytes); off by default. */
    void labelTenants(boolean on) {
        metrics.labelTenants(on);
        member.store().labelTenants(on);
    }

        int apiPort() {
        return apiServer.getPort();
    }

    int httpPort() {
        return http.port();
    }

    int kvPort() {
        return member.hazelcast().getCluster().getLocalMember().getAddress().getPort();
    }

    Model model() {
        return decodeNodes.getFirst().model();
    }

    DecodeEngine engine() {
        return decodeNodes.getFirst().engine();
    }

    List<DecodeNode> decodeNodes() {
        return decodeNodes;
    }

    /** The store member's counters ({@code BlockStore.stats}). */
    java.util.Map<String, Long> storeStats() {
        return member.store().stats();
    }

    StorePrefixCache cache() {
        return cache;
    }

    KvAwarePlacement placement() {
        return placement;
    }

    @Override
    public void close() {
        for (int i = closing.size() - 1; i >= 0; i--) {
            try {
                closing.get(i).close();
            } catch (Exception e) {
                // closing the rest matters more
            }
        }
        closing.clear();
    }

    private static void shutdown(Server s) {
        s.shutdown();
        try {
            if (!s.awaitTermination(5, TimeUnit.SECONDS)) {
                s.shutdownNow();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            s.shutdownNow();
        }
    }
}
