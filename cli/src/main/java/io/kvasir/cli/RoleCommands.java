package io.kvasir.cli;

import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CountDownLatch;

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
import io.kvasir.decode.DecodeNodes;
import io.kvasir.decode.StorePrefixCache;
import io.kvasir.engine.Model;
import io.kvasir.engine.backend.cpu.VectorCpuBackend;
import io.kvasir.kv.client.KvStoreClient;
import io.kvasir.kv.store.StoreConfig;
import io.kvasir.proto.internal.v1.DecodeServiceGrpc;
import io.kvasir.proto.v1.GenerationServiceGrpc;
import io.kvasir.router.DecodeRoutes;
import io.kvasir.router.GenerationGrpcService;
import io.kvasir.router.TenantInterceptor;

/** {@code kvasir decode} and {@code kvasir router}: the roles of {@code serve}, one process each. */
final class RoleCommands {
    static final String DECODE_USAGE = """
            usage: kvasir decode --model PATH --kv-peers H:P,H:P [--grpc-port 7501] [--host 127.0.0.1]
                                 [--cluster kvasir] [--max-batch 16] [--kv-blocks 2048] [--block-size 16] [--threads N]
              A decode node: the step loop, prefixes from the KV store (Hazelcast addresses in --kv-peers),
              kvasir.internal.v1.DecodeService on --grpc-port.""";
    static final String ROUTER_USAGE = """
            usage: kvasir router --model PATH --decode H:P,H:P [--grpc-port 50051] [--host 127.0.0.1]
              The public API (kvasir.v1.GenerationService): validates, tokenizes with the model's tokenizer
              (its weights are mapped, never read), sends each request to the least busy decode node.""";

    private RoleCommands() {
    }

    static void decode(List<String> argv, PrintStream out) throws InterruptedException {
        Args a = Args.parse("decode", argv, Set.of("model", "kv-peers", "grpc-port", "host", "cluster", "max-batch",
                "kv-blocks", "block-size", "threads"), Set.of());
        Path modelPath = Path.of(a.required("model"));
        List<String> peers = Arrays.stream(a.required("kv-peers").split(",")).map(String::trim).toList();
        int blockSize = a.integer("block-size", 16);
        KvStoreClient store = KvStoreClient.connect(a.string("cluster", StoreConfig.DEFAULT_CLUSTER), peers);
        VectorCpuBackend backend = new VectorCpuBackend(a.integer("threads", VectorCpuBackend.defaultThreads()));
        Model model = Model.load(modelPath, backend);
        StorePrefixCache cache = DecodeNodes.storeCache(store, model, blockSize);
        DecodeEngine engine = new DecodeEngine(model, cache, blockSize, a.integer("kv-blocks", 2048),
                a.integer("max-batch", 16), 64);
        HealthStatusManager health = new HealthStatusManager();
        Server server = start(NettyServerBuilder.forAddress(new InetSocketAddress(a.string("host", "127.0.0.1"),
                a.integer("grpc-port", 7501))).addService(new DecodeGrpcService(engine))
                .addService(health.getHealthService()).addService(ProtoReflectionServiceV1.newInstance()));
        health.setStatus("", ServingStatus.SERVING);
        health.setStatus(DecodeServiceGrpc.SERVICE_NAME, ServingStatus.SERVING);
        out.println("kvasir decode: " + modelPath.getFileName() + " on port " + server.getPort() + ", KV store "
                + peers);
        out.flush();
        awaitShutdown(() -> {
            health.enterTerminalState();
            server.shutdown();
            engine.close();
            cache.close();
            model.close();
            backend.close();
            store.close();
        });
    }

    static void router(List<String> argv, PrintStream out) throws InterruptedException {
        Args a = Args.parse("router", argv, Set.of("model", "decode", "grpc-port", "host"), Set.of());
        Path modelPath = Path.of(a.required("model"));
        List<ManagedChannel> nodes = new ArrayList<>();
        for (String target : a.required("decode").split(",")) {
            nodes.add(NettyChannelBuilder.forTarget(target.trim()).usePlaintext().build());
        }
        Model model = Model.load(modelPath, new VectorCpuBackend(1));
        var config = model.transformer().config();
        GenerationGrpcService api = new GenerationGrpcService(model.tokenizer(), config.vocabSize(),
                config.contextLength(), new DecodeRoutes(nodes));
        HealthStatusManager health = new HealthStatusManager();
        Server server = start(NettyServerBuilder.forAddress(new InetSocketAddress(a.string("host", "127.0.0.1"),
                a.integer("grpc-port", 50051))).addService(ServerInterceptors.intercept(api, new TenantInterceptor()))
                .addService(health.getHealthService()).addService(ProtoReflectionServiceV1.newInstance()));
        health.setStatus("", ServingStatus.SERVING);
        health.setStatus(GenerationServiceGrpc.SERVICE_NAME, ServingStatus.SERVING);
        out.println("kvasir router: on port " + server.getPort() + ", decode nodes " + a.required("decode"));
        out.flush();
        awaitShutdown(() -> {
            health.enterTerminalState();
            server.shutdown();
            nodes.forEach(ManagedChannel::shutdownNow);
            model.close();
        });
    }

    private static Server start(NettyServerBuilder builder) {
        try {
            return builder.build().start();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot start the gRPC server: " + e.getMessage(), e);
        }
    }

    private static void awaitShutdown(Runnable stop) throws InterruptedException {
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            stop.run();
            stopped.countDown();
        }, "role-shutdown"));
        stopped.await();
    }
}
