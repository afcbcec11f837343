package io.kvasir.cli;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.nio.file.Path;
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
import io.kvasir.decode.DecodeEngine;
import io.kvasir.decode.DecodeGrpcService;
import io.kvasir.engine.Model;
import io.kvasir.engine.backend.cpu.VectorCpuBackend;
import io.kvasir.kv.client.KvStoreClient;
import io.kvasir.kv.store.KvStoreMember;
import io.kvasir.kv.store.StoreConfig;
import io.kvasir.node.NodeCaches;
import io.kvasir.node.StorePrefixCache;
import io.kvasir.prefill.PrefillEngine;
import io.kvasir.prefill.PrefillGrpcService;
import io.kvasir.proto.internal.v1.DecodeServiceGrpc;
import io.kvasir.proto.internal.v1.PrefillServiceGrpc;
import io.kvasir.proto.v1.GenerationServiceGrpc;
import io.kvasir.router.DecodeRoutes;
import io.kvasir.router.DisaggregatedPrefill;
import io.kvasir.router.GenerationGrpcService;
import io.kvasir.router.TenantInterceptor;

/**
 * Every role in one JVM, wired as the separate processes are: a kv-store member (Hazelcast, host
 * tier), a prefill node and a decode node (each behind its gRPC service on loopback, both with the
 * store as prefix cache), and the router serving the public API, which reaches the nodes over gRPC
 * like any others.
 */
final class EmbeddedCluster implements AutoCloseable {
    /** @param prefillThreshold prompts with at least this many uncached tokens go to the prefill node first */
    record Options(Path model, String host, int grpcPort, int kvPort, int maxBatch, int kvBlocks, int blockSize,
            int threads, int prefillThreshold) {
    }

    private final KvStoreMember member;
    private final KvStoreClient store;
    private final VectorCpuBackend backend;
    private final Model model;
    private final StorePrefixCache cache;
    private final DecodeEngine engine;
    private final Server decodeServer;
    private final ManagedChannel decodeChannel;
    private final Server apiServer;
    private final VectorCpuBackend prefillBackend;
    private final Model prefillModel;
    private final PrefillEngine prefill;
    private final Server prefillServer;
    private final ManagedChannel prefillChannel;
    private final DisaggregatedPrefill policy;

    EmbeddedCluster(Options o) {
        String cluster = "kvasir-serve-" + ProcessHandle.current().pid();
        member = KvStoreMember.start(StoreConfig.local().withCluster(cluster).withPorts(o.kvPort(), 0)
                .withPeers(List.of()).withBackupCount(0).withMemberName("serve-kv"));
        var hz = member.hazelcast().getCluster().getLocalMember().getAddress();
        store = KvStoreClient.connect(cluster, List.of(hz.getHost() + ":" + hz.getPort()));
        backend = new VectorCpuBackend(o.threads());
        model = Model.load(o.model(), backend);
        cache = NodeCaches.storeCache(store, model, o.blockSize());
        engine = new DecodeEngine(model, cache, o.blockSize(), o.kvBlocks(), o.maxBatch(), 64);
        // the prefill node runs beside the step loop: its own backend (a backend serves one loop) and mapping
        prefillBackend = new VectorCpuBackend(o.threads());
        prefillModel = Model.load(o.model(), prefillBackend);
        prefill = new PrefillEngine(prefillModel, cache, o.blockSize(), o.kvBlocks(), 64);
        try {
            HealthStatusManager prefillHealth = new HealthStatusManager();
            prefillServer = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))
                    .addService(new PrefillGrpcService(prefill)).addService(prefillHealth.getHealthService())
                    .addService(ProtoReflectionServiceV1.newInstance()).build().start();
            prefillHealth.setStatus(PrefillServiceGrpc.SERVICE_NAME, ServingStatus.SERVING);
            prefillChannel = NettyChannelBuilder.forAddress("127.0.0.1", prefillServer.getPort()).usePlaintext().build();
            policy = new DisaggregatedPrefill(store, cache.chain(), List.of(prefillChannel), o.prefillThreshold());
            HealthStatusManager decodeHealth = new HealthStatusManager();
            decodeServer = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))
                    .addService(new DecodeGrpcService(engine)).addService(decodeHealth.getHealthService())
                    .addService(ProtoReflectionServiceV1.newInstance()).build().start();
            decodeHealth.setStatus(DecodeServiceGrpc.SERVICE_NAME, ServingStatus.SERVING);
            decodeChannel = NettyChannelBuilder.forAddress("127.0.0.1", decodeServer.getPort()).usePlaintext().build();
            var config = model.transformer().config();
            GenerationGrpcService api = new GenerationGrpcService(model.tokenizer(), config.vocabSize(),
                    config.contextLength(), new DecodeRoutes(List.of(decodeChannel)), policy);
            HealthStatusManager health = new HealthStatusManager();
            apiServer = NettyServerBuilder.forAddress(new InetSocketAddress(o.host(), o.grpcPort()))
                    .addService(ServerInterceptors.intercept(api, new TenantInterceptor()))
                    .addService(health.getHealthService())
                    .addService(ProtoReflectionServiceV1.newInstance())
                    .build().start();
            health.setStatus("", ServingStatus.SERVING);
            health.setStatus(GenerationServiceGrpc.SERVICE_NAME, ServingStatus.SERVING);
        } catch (IOException e) {
            close();
            throw new UncheckedIOException("cannot start the gRPC servers: " + e.getMessage(), e);
        }
    }

    int apiPort() {
        return apiServer.getPort();
    }

    int kvPort() {
        return member.hazelcast().getCluster().getLocalMember().getAddress().getPort();
    }

    Model model() {
        return model;
    }

    DecodeEngine engine() {
        return engine;
    }

    StorePrefixCache cache() {
        return cache;
    }

    DisaggregatedPrefill prefillPolicy() {
        return policy;
    }

    PrefillEngine prefillEngine() {
        return prefill;
    }

    @Override
    public void close() {
        shutdown(apiServer);
        if (decodeChannel != null) {
            decodeChannel.shutdownNow();
        }
        shutdown(decodeServer);
        if (prefillChannel != null) {
            prefillChannel.shutdownNow();
        }
        shutdown(prefillServer);
        if (prefillModel != null) {
            prefillModel.close();
        }
        if (prefillBackend != null) {
            prefillBackend.close();
        }
        if (engine != null) {
            engine.close();
        }
        if (cache != null) {
            cache.close();
        }
        if (model != null) {
            model.close();
        }
        if (backend != null) {
            backend.close();
        }
        if (store != null) {
            store.close();
        }
        if (member != null) {
            member.close();
        }
    }

    private static void shutdown(Server s) {
        if (s == null) {
            return;
        }
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
