package io.kvasir.prefill;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;

import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import io.kvasir.engine.sampling.SamplingParams;
import io.kvasir.proto.internal.v1.PrefillRequest;
import io.kvasir.proto.internal.v1.PrefillResponse;

/** Calls waiting on a prefill node are bounded: beyond the bound, refused at once, not queued on a thread each. */
class PrefillGrpcServiceTest {
    @Test
    void promptsBeyondTheBoundAreRefusedAtOnce() throws Exception {
        CountDownLatch release = new CountDownLatch(1);
        Prefiller slow = new Prefiller() {
            @Override
            public Result prefill(String tenant, int[] prompt, SamplingParams sampling,
                    java.util.function.Consumer<Runnable> onCancel) {
                try {
                    release.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                return new Result(5, 0, 1, 0);
            }

            @Override
            public void registerMetrics(io.prometheus.metrics.model.registry.PrometheusRegistry registry, String modelName) {
            }

            @Override
            public void close() {
            }
        };
        PrefillGrpcService service = new PrefillGrpcService(slow, 2);
        CompletableFuture<Throwable> first = call(service);
        CompletableFuture<Throwable> second = call(service);
        Thread.sleep(100); // both hold their places
        Throwable refused = call(service).get(5, TimeUnit.SECONDS);
        assertEquals(Status.Code.RESOURCE_EXHAUSTED, Status.fromThrowable(refused).getCode());
        release.countDown();
        assertNull(first.get(5, TimeUnit.SECONDS));
        assertNull(second.get(5, TimeUnit.SECONDS));
        assertNull(call(service).get(5, TimeUnit.SECONDS), "places free again");
    }

    /** A caller that goes away (here its deadline passes) stops its prompt, though the handler thread is blocked on it. */
    @Test
    void aCallerThatGoesAwayCancelsItsPrompt() throws Exception {
        CountDownLatch started = new CountDownLatch(1);
        CountDownLatch cancelled = new CountDownLatch(1);
        Prefiller waitsForCancel = new Prefiller() {
            @Override
            public Result prefill(String tenant, int[] prompt, SamplingParams sampling,
                    java.util.function.Consumer<Runnable> onCancel) {
                onCancel.accept(cancelled::countDown);
                started.countDown();
                try {
                    cancelled.await(10, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                throw new java.util.concurrent.CancellationException("cancelled");
            }

            @Override
            public void registerMetrics(io.prometheus.metrics.model.registry.PrometheusRegistry registry, String modelName) {
            }

            @Override
            public void close() {
            }
        };
        io.grpc.Server server = io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder.forPort(0)
                .addService(new PrefillGrpcService(waitsForCancel)).build().start();
        io.grpc.ManagedChannel channel = io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder
                .forAddress("127.0.0.1", server.getPort()).usePlaintext().build();
        try {
            var e = org.junit.jupiter.api.Assertions.assertThrows(io.grpc.StatusRuntimeException.class,
                    () -> io.kvasir.proto.internal.v1.PrefillServiceGrpc.newBlockingStub(channel)
                            .withDeadlineAfter(2, TimeUnit.SECONDS)
                            .prefill(PrefillRequest.newBuilder().addPromptTokens(1).build()));
            assertEquals(Status.Code.DEADLINE_EXCEEDED, e.getStatus().getCode());
            org.junit.jupiter.api.Assertions.assertTrue(started.await(1, TimeUnit.SECONDS), "the prompt ran");
            org.junit.jupiter.api.Assertions.assertTrue(cancelled.await(5, TimeUnit.SECONDS),
                    "the prompt was cancelled while the handler waited on it");
        } finally {
            channel.shutdownNow();
            server.shutdownNow();
        }
    }

    /** Like the decode node (found by {@code DecodeRequestFuzzTest}): a tenant the store refuses never reaches the engine. */
    @Test
    void aTenantTheStoreWouldRefuseIsRefusedHere() throws Exception {
        java.util.concurrent.atomic.AtomicInteger prefilled = new java.util.concurrent.atomic.AtomicInteger();
        Prefiller counting = new Prefiller() {
            @Override
            public Result prefill(String tenant, int[] prompt, SamplingParams sampling,
                    java.util.function.Consumer<Runnable> onCancel) {
                prefilled.incrementAndGet();
                return new Result(5, 0, 0, 0);
            }

            @Override
            public void registerMetrics(io.prometheus.metrics.model.registry.PrometheusRegistry registry, String modelName) {
            }

            @Override
            public void close() {
            }
        };
        PrefillGrpcService service = new PrefillGrpcService(counting, 2);
        Throwable refused = call(service, "t".repeat(129)).get(5, TimeUnit.SECONDS);
        assertEquals(Status.Code.INVALID_ARGUMENT, Status.fromThrowable(refused).getCode());
        assertTrue(Status.fromThrowable(refused).getDescription().startsWith("tenant must be"));
        assertEquals(0, prefilled.get());
        assertNull(call(service, "acme").get(5, TimeUnit.SECONDS));
        assertEquals(1, prefilled.get());
    }

    /** A prefill on a thread of its own (gRPC's handler thread): null when it answered, else its error. */
    private static CompletableFuture<Throwable> call(PrefillGrpcService service) {
        return call(service, "");
    }

    private static CompletableFuture<Throwable> call(PrefillGrpcService service, String tenant) {
        CompletableFuture<Throwable> ended = new CompletableFuture<>();
        Thread.ofPlatform().daemon().start(() -> service.prefill(
                PrefillRequest.newBuilder().setTenant(tenant).addPromptTokens(1).build(),
                new StreamObserver<>() {
                    @Override
                    public void onNext(PrefillResponse r) {
                    }

                    @Override
                    public void onError(Throwable t) {
                        ended.complete(t);
                    }

                    @Override
                    public void onCompleted() {
                        ended.complete(null);
                    }
                }));
        return ended;
    }
}
