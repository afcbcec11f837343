package io.kvasir.router;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;

import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.StreamObserver;
import io.kvasir.engine.tokenizer.Tokenizer;
import io.kvasir.proto.internal.v1.DecodeRequest;
import io.kvasir.proto.internal.v1.DecodeResponse;
import io.kvasir.proto.internal.v1.DecodeServiceGrpc;
import io.kvasir.proto.v1.GenerateRequest;
import io.kvasir.proto.v1.GenerateResponse;

/** The router's relay from a decode node to its client, against a real gRPC decode server that misbehaves. */
class GenerationGrpcServiceTest {
    /** One token per id, shown as a letter. */
    private static final Tokenizer LETTERS = new Tokenizer() {
        @Override
        public int[] encode(String text) {
            return text.chars().map(c -> c % 26).toArray();
        }

        @Override
        public String decode(int[] tokens) {
            StringBuilder b = new StringBuilder();
            for (int t : tokens) {
                b.append((char) ('a' + t % 26));
            }
            return b.toString();
        }

        @Override
        public boolean isEndOfGeneration(int token) {
            return false;
        }
    };

    @Test
    void aDecodeStreamThatEndsWithoutAFinishReasonEndsTheClientsCallCleanly() throws Exception {
        Server node = NettyServerBuilder.forPort(0).addService(new DecodeServiceGrpc.DecodeServiceImplBase() {
            @Override
            public void decode(DecodeRequest request, StreamObserver<DecodeResponse> response) {
                response.onNext(DecodeResponse.newBuilder().addTokenIds(3).addTokenIds(4).build());
                response.onCompleted(); // no finish_reason, no usage
            }
        }).build().start();
        ManagedChannel channel = NettyChannelBuilder.forAddress("127.0.0.1", node.getPort()).usePlaintext().build();
        try {
            TenantLimits limits = new TenantLimits(1, 0);
            var service = new GenerationGrpcService(LETTERS, 26, 64, new DecodeRoutes(List.of(channel), List.of("node")),
                    PlacementPolicy.NONE, new RouterMetrics("m"), limits);
            for (int round = 0; round < 2; round++) { // the tenant's one slot is free again after each
                StringBuilder text = new StringBuilder();
                Throwable t = call(service, text);
                assertNotNull(t, "a stream without a finish reason is an error, not a success");
                Status s = Status.fromThrowable(t);
                assertEquals(Status.Code.UNAVAILABLE, s.getCode());
                assertTrue(s.getDescription().contains("after 2 tokens without finishing"), s.getDescription());
                assertEquals("de", text.toString(), "the tokens that did arrive reached the client");
            }
        } finally {
            channel.shutdownNow();
            node.shutdownNow();
        }
    }

    /** A decode node whose queue is full is passed over; with every node full the client hears when to retry. */
    @Test
    void fullDecodeNodesArePassedOverThenTheClientIsToldToRetry() throws Exception {
        List<Server> nodes = new java.util.ArrayList<>();
        List<ManagedChannel> channels = new java.util.ArrayList<>();
        boolean[] fullNow = {true, false};
        for (int n = 0; n < 2; n++) {
            int node = n;
            nodes.add(NettyServerBuilder.forPort(0).addService(new DecodeServiceGrpc.DecodeServiceImplBase() {
                @Override
                public void decode(DecodeRequest request, StreamObserver<DecodeResponse> response) {
                    if (fullNow[node]) {
                        response.onError(Status.RESOURCE_EXHAUSTED.withDescription("queue full").asException());
                        return;
                    }
                    response.onNext(DecodeResponse.newBuilder().addTokenIds(7).build());
                    response.onNext(DecodeResponse.newBuilder().setFinishReason("length").setPromptTokens(1)
                            .setCompletionTokens(1).build());
                    response.onCompleted();
                }
            }).build().start());
            channels.add(NettyChannelBuilder.forAddress("127.0.0.1", nodes.get(n).getPort()).usePlaintext().build());
        }
        try {
            TenantLimits limits = new TenantLimits(1, 0);
            var service = new GenerationGrpcService(LETTERS, 26, 64, new DecodeRoutes(channels, List.of("a", "b")),
                    PlacementPolicy.NONE, new RouterMetrics("m"), limits);
            StringBuilder text = new StringBuilder();
            assertEquals(null, call(service, text), "node b took it");
            assertEquals("h", text.toString());
            fullNow[1] = true;
            Throwable t = call(service, new StringBuilder());
            assertEquals(Status.Code.RESOURCE_EXHAUSTED, Status.fromThrowable(t).getCode());
            assertEquals("1000", Status.trailersFromThrowable(t).get(GenerationGrpcService.RETRY_AFTER_MS));
            assertEquals(0, limits.inFlight("alpha"));
        } finally {
            channels.forEach(ManagedChannel::shutdownNow);
            nodes.forEach(Server::shutdownNow);
        }
    }

    /** One Generate through {@code service} as tenant alpha: null when it completed, else its error. */
    private static Throwable call(GenerationGrpcService service, StringBuilder text) throws Exception {
        CompletableFuture<Throwable> ended = new CompletableFuture<>();
        service.generate(Tenant.of("alpha"), GenerateRequest.newBuilder().addPromptTokens(1).setMaxTokens(8).build(),
                new StreamObserver<>() {
                    @Override
                    public void onNext(GenerateResponse r) {
                        text.append(r.getText());
                    }

                    @Override
                    public void onError(Throwable t) {
                        ended.complete(t);
                    }

                    @Override
                    public void onCompleted() {
                        ended.complete(null);
                    }
                }, cancel -> { });
        return ended.get(20, TimeUnit.SECONDS);
    }

    /** Placement failing after admission (the store's index unreachable, a bug) ends the call and frees the tenant's place. */
    @Test
    void aPlacementThatThrowsEndsTheCallAndGivesTheTenantsPlaceBack() throws Exception {
        TenantLimits limits = new TenantLimits(1, 0);
        PlacementPolicy broken = request -> {
            throw new IllegalStateException("index unreachable");
        };
        ManagedChannel unused = NettyChannelBuilder.forAddress("127.0.0.1", 1).usePlaintext().build();
        var service = new GenerationGrpcService(LETTERS, 26, 64, new DecodeRoutes(List.of(unused), List.of("node")),
                broken, new RouterMetrics("m"), limits);
        for (int round = 0; round < 2; round++) { // with the place leaked, the second would be RESOURCE_EXHAUSTED
            Status s = Status.fromThrowable(call(service, new StringBuilder()));
            assertEquals(Status.Code.UNAVAILABLE, s.getCode(), s.toString());
            assertTrue(s.getDescription().contains("index unreachable"), s.getDescription());
        }
        assertEquals(0, limits.inFlight("alpha"));
        unused.shutdownNow();
    }
}
