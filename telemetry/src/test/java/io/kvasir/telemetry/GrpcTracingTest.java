package io.kvasir.telemetry;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import io.grpc.CallOptions;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Server;
import io.grpc.ServerServiceDefinition;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.protobuf.services.HealthStatusManager;
import io.grpc.stub.ClientCalls;
import io.grpc.stub.MetadataUtils;
import io.grpc.stub.ServerCalls;

/**
 * Real gRPC servers on loopback, the SDK exporting over OTLP/HTTP to a {@link TraceCollector}: a
 * public server starts one trace per call and its outgoing call carries it to an internal server;
 * internal servers and gRPC's own services start none; a caller's traceparent is continued.
 */
class GrpcTracingTest {
    private static final MethodDescriptor<byte[], byte[]> RELAY = MethodDescriptor.<byte[], byte[]>newBuilder()
            .setType(MethodDescriptor.MethodType.UNARY).setFullMethodName("test.Relay/Call")
            .setRequestMarshaller(Bytes.INSTANCE).setResponseMarshaller(Bytes.INSTANCE).build();

    private static TraceCollector collector;
    private static Server internal;
    private static Server publicApi;
    private static ManagedChannel toInternal;
    private static ManagedChannel toPublic;

    @BeforeAll
    static void start() throws IOException {
        collector = new TraceCollector("127.0.0.1", 0);
        System.setProperty("otel.bsp.schedule.delay", "50");
        assertTrue(Telemetry.start("kvasir-test", "http://127.0.0.1:" + collector.port()));
        internal = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))
                .addService(new HealthStatusManager().getHealthService()).intercept(GrpcTracing.server(false)).build().start();
        toInternal = NettyChannelBuilder.forAddress("127.0.0.1", internal.getPort()).usePlaintext()
                .intercept(GrpcTracing.client()).build();
        // the public call makes an internal one, as the router calls its nodes
        ServerServiceDefinition relay = ServerServiceDefinition.builder("test.Relay").addMethod(RELAY,
                ServerCalls.asyncUnaryCall((request, response) -> {
                    HealthGrpc.newBlockingStub(toInternal).check(HealthCheckRequest.getDefaultInstance());
                    response.onNext(request);
                    response.onCompleted();
                })).build();
        publicApi = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0)).addService(relay)
                .addService(new HealthStatusManager().getHealthService()).intercept(GrpcTracing.server(true)).build().start();
        toPublic = NettyChannelBuilder.forAddress("127.0.0.1", publicApi.getPort()).usePlaintext().build();
    }

    @AfterAll
    static void stop() {
        toPublic.shutdownNow();
        toInternal.shutdownNow();
        publicApi.shutdownNow();
        internal.shutdownNow();
        collector.close();
    }

    @Test
    void aPublicCallIsOneTraceAcrossTheHopItMakes() throws InterruptedException {
        ClientCalls.blockingUnaryCall(toPublic, RELAY, CallOptions.DEFAULT, new byte[] {1});
        List<TraceCollector.CollectedSpan> spans = await(3);
        String traceId = spans.get(0).traceId();
        assertTrue(spans.stream().allMatch(s -> s.traceId().equals(traceId)), TraceCollector.tree(spans));
        var root = one(spans, "test.Relay/Call");
        var client = one(spans, "grpc.health.v1.Health/Check", root.spanId());
        var server = one(spans, "grpc.health.v1.Health/Check", client.spanId());
        assertEquals("", root.parentSpanId(), "a root: " + TraceCollector.tree(spans));
        assertEquals("0", server.attributes().get("rpc.grpc.status_code"));
    }

    @Test
    void callsOutsideATraceStartNoneOnInternalServersOrGrpcsOwnServices() throws InterruptedException {
        HealthGrpc.newBlockingStub(toInternal).check(HealthCheckRequest.getDefaultInstance());
        HealthGrpc.newBlockingStub(toPublic).check(HealthCheckRequest.getDefaultInstance());
        Thread.sleep(500); // several export intervals
        // roots only where the public API took a call of its own service
        assertEquals(List.of(), collector.spans().stream().filter(s -> s.parentSpanId().isEmpty())
                .filter(s -> !s.name().equals("test.Relay/Call")).toList());
    }

    @Test
    void aCallersTraceparentIsContinued() throws InterruptedException {
        Metadata headers = new Metadata();
        headers.put(Metadata.Key.of("traceparent", Metadata.ASCII_STRING_MARSHALLER),
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
        HealthGrpc.newBlockingStub(toInternal).withInterceptors(MetadataUtils.newAttachHeadersInterceptor(headers))
                .check(HealthCheckRequest.getDefaultInstance());
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        List<TraceCollector.CollectedSpan> spans;
        do {
            Thread.sleep(50);
            spans = collector.trace("0af7651916cd43dd8448eb211c80319c");
        } while (spans.isEmpty() && System.nanoTime() < deadline);
        assertEquals(1, spans.size(), TraceCollector.tree(spans));
        assertEquals("b7ad6b7169203331", spans.get(0).parentSpanId());
        assertEquals("kvasir-test", spans.get(0).service());
    }

    /** Waits for the first {@code n} spans of the Relay trace. */
    private static List<TraceCollector.CollectedSpan> await(int n) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (System.nanoTime() < deadline) {
            var root = collector.spans().stream().filter(s -> s.name().equals("test.Relay/Call")).findFirst();
            if (root.isPresent() && collector.trace(root.get().traceId()).size() >= n) {
                return collector.trace(root.get().traceId());
            }
            Thread.sleep(50);
        }
        throw new AssertionError("spans: " + collector.spans());
    }

    private static TraceCollector.CollectedSpan one(List<TraceCollector.CollectedSpan> spans, String name) {
        var found = spans.stream().filter(s -> s.name().equals(name)).toList();
        assertEquals(1, found.size(), TraceCollector.tree(spans));
        return found.get(0);
    }

    private static TraceCollector.CollectedSpan one(List<TraceCollector.CollectedSpan> spans, String name, String parent) {
        var found = spans.stream().filter(s -> s.name().equals(name) && s.parentSpanId().equals(parent)).toList();
        assertEquals(1, found.size(), name + " under " + parent + ":\n" + TraceCollector.tree(spans));
        return found.get(0);
    }

    private enum Bytes implements MethodDescriptor.Marshaller<byte[]> {
        INSTANCE;

        @Override
        public InputStream stream(byte[] value) {
            return new ByteArrayInputStream(value);
        }

        @Override
        public byte[] parse(InputStream stream) {
            try {
                return stream.readAllBytes();
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        }
    }
}
