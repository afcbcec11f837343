package io.kvasir.decode;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import org.junit.jupiter.api.Test;

import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.kvasir.engine.loop.EngineLoop;
import io.kvasir.kv.store.NodeHeartbeat;
import io.kvasir.proto.internal.v1.DecodeRequest;
import io.kvasir.proto.internal.v1.DecodeServiceGrpc;

/** A decode node checks what it is handed before its engine sees it, whoever the caller. */
class DecodeGrpcServiceTest {
    /**
     * Found by {@code DecodeRequestFuzzTest}: a tenant or cache owner the store refuses was served,
     * and every block the request computed then failed to be stored.
     */
    @Test
    void tenantsAndCacheOwnersTheStoreWouldRefuseAreRefusedHere() throws Exception {
        AtomicInteger submitted = new AtomicInteger();
        Decoder engine = new Decoder() {
            @Override
            public EngineLoop.Handle submit(EngineLoop.Request request, EngineLoop.Listener listener) {
                submitted.incrementAndGet();
                listener.onFinish(new EngineLoop.Finish("length", request.prompt().length, 0, 0, 0, 0, 0));
                return () -> { };
            }

            @Override
            public EngineLoop<?> loop() {
                throw new UnsupportedOperationException();
            }

            @Override
            public List<NodeHeartbeat.Resident> resident() {
                return List.of();
            }

            @Override
            public void registerMetrics(io.prometheus.metrics.model.registry.PrometheusRegistry registry, String modelName) {
            }

            @Override
            public void close() {
            }
        };
        Server server = NettyServerBuilder.forPort(0).addService(new DecodeGrpcService(engine)).build().start();
        ManagedChannel channel = NettyChannelBuilder.forAddress("127.0.0.1", server.getPort()).usePlaintext().build();
        try {
            var stub = DecodeServiceGrpc.newBlockingStub(channel).withDeadlineAfter(10, TimeUnit.SECONDS);
            DecodeRequest good = DecodeRequest.newBuilder().setTenant("acme").addPromptTokens(1).setMaxTokens(1).build();
            stub.decode(good).forEachRemaining(r -> { });
            assertEquals(1, submitted.get());
            for (DecodeRequest bad : List.of(good.toBuilder().setTenant("t".repeat(129)).build(),
                    good.toBuilder().setTenant("   ").build(),
                    good.toBuilder().setCacheOwner("o".repeat(200)).build())) {
                StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
                        () -> stub.decode(bad).forEachRemaining(r -> { }));
                assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
                String field = bad.getCacheOwner().isEmpty() ? "tenant" : "cache_owner";
                assertTrue(e.getStatus().getDescription().startsWith(field + " must be"), e.getStatus().getDescription());
            }
            assertEquals(1, submitted.get(), "no refused request reached the engine");
        } finally {
            channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
            server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
    }
}
