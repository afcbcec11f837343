package io.kvasir.cli;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

import com.google.gson.Gson;

import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.MetadataUtils;
import io.kvasir.proto.v1.GenerateRequest;
import io.kvasir.proto.v1.GenerateResponse;
import io.kvasir.proto.v1.GenerationServiceGrpc;

/**
 * {@code kvasir bench tenants}: tenant B's request latency alone, then while tenant A floods the
 * server with concurrent requests (A's over-limit ones refused with RESOURCE_EXHAUSTED), through
 * the public gRPC API with both tenants' keys.
 */
final class TenantBench {
    static final String USAGE = """
            usage: kvasir bench tenants --server HOST:PORT --key-a KEY --key-b KEY [--flood 16] [--requests 30]
                                        [--prompt-len 64] [--max-tokens 32] [--vocab 370] [--json]
              Run against serve started with --api-keys and --max-concurrent-per-tenant.""";

    private TenantBench() {
    }

    static void run(List<String> argv, PrintStream out, PrintStream err) throws Exception {
        Args a = Args.parse("bench tenants", argv, Set.of("server", "key-a", "key-b", "flood", "requests", "prompt-len",
                "max-tokens", "vocab"), Set.of("json"));
        int flood = a.integer("flood", 16), requests = a.integer("requests", 30);
        int promptLen = a.integer("prompt-len", 64), maxTokens = a.integer("max-tokens", 32), vocab = a.integer("vocab", 370);
        ManagedChannel channel = NettyChannelBuilder.forTarget(a.required("server")).usePlaintext().build();
        try {
            var tenantA = stub(channel, a.required("key-a"));
            var tenantB = stub(channel, a.required("key-b"));
            latencies(tenantB, 5, promptLen, maxTokens, vocab, 0); // warm-up: JIT, first-use allocations
            double[] alone = latencies(tenantB, requests, promptLen, maxTokens, vocab, 1);
            err.printf("  tenant B alone: p50 %.1f ms, p99 %.1f ms%n", pct(alone, 50), pct(alone, 99));
            AtomicBoolean flooding = new AtomicBoolean(true);
            AtomicLong served = new AtomicLong(), refused = new AtomicLong();
            ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor();
            for (int f = 0; f < flood; f++) {
                int seed = 1000 + f;
                pool.submit(() -> {
                    int n = 0;
                    while (flooding.get()) {
                        try {
                            drain(tenantA.generate(request(promptLen, maxTokens, vocab, seed * 7 + n++)));
                            served.incrementAndGet();
                        } catch (StatusRuntimeException e) {
                            if (e.getStatus().getCode() == Status.Code.RESOURCE_EXHAUSTED) {
                                refused.incrementAndGet();
                                Thread.sleep(50);
                            } else {
                                throw e;
                            }
                        }
                    }
                    return null;
                });
            }
            Thread.sleep(500);
            double[] flooded = latencies(tenantB, requests, promptLen, maxTokens, vocab, 2);
            flooding.set(false);
            pool.shutdown();
            pool.awaitTermination(2, TimeUnit.MINUTES);
            err.printf("  tenant B during A's flood: p50 %.1f ms, p99 %.1f ms; A served %d, refused %d%n",
                    pct(flooded, 50), pct(flooded, 99), served.get(), refused.get());
            Map<String, Object> result = new LinkedHashMap<>();
            result.put("b_alone_p50_ms", round1(pct(alone, 50)));
            result.put("b_alone_p99_ms", round1(pct(alone, 99)));
            result.put("b_flooded_p50_ms", round1(pct(flooded, 50)));
            result.put("b_flooded_p99_ms", round1(pct(flooded, 99)));
            result.put("a_served", served.get());
            result.put("a_refused", refused.get());
            if (a.has("json")) {
                out.println(new Gson().toJson(result));
            } else {
                out.println(result);
            }
        } finally {
            channel.shutdownNow();
        }
    }

    private static GenerationServiceGrpc.GenerationServiceBlockingStub stub(ManagedChannel channel, String key) {
        Metadata h = new Metadata();
        h.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer " + key);
        return GenerationServiceGrpc.newBlockingStub(channel).withInterceptors(MetadataUtils.newAttachHeadersInterceptor(h));
    }

    private static GenerateRequest request(int promptLen, int maxTokens, int vocab, int seed) {
        GenerateRequest.Builder b = GenerateRequest.newBuilder().setMaxTokens(maxTokens).setIgnoreEos(true);
        b.addPromptTokens(1);
        for (int i = 1; i < promptLen; i++) {
            b.addPromptTokens(3 + (int) ((i * 7919L + seed * 104729L) % (vocab - 3)));
        }
        return b.build();
    }

    private static void drain(Iterator<GenerateResponse> it) {
        while (it.hasNext()) {
            it.next();
        }
    }

    /** Milliseconds per request, sequentially, each a fresh prompt. */
    private static double[] latencies(GenerationServiceGrpc.GenerationServiceBlockingStub stub, int n, int promptLen,
            int maxTokens, int vocab, int round) {
        double[] ms = new double[n];
        for (int i = 0; i < n; i++) {
            long t0 = System.nanoTime();
            drain(stub.withDeadlineAfter(5, TimeUnit.MINUTES).generate(request(promptLen, maxTokens, vocab,
                    round * 100_000 + i)));
            ms[i] = (System.nanoTime() - t0) / 1e6;
        }
        return ms;
    }

    private static double pct(double[] v, int p) {
        return WorkloadReport.percentile(v, p);
    }

    private static double round1(double v) {
        return Math.round(v * 10) / 10.0;
    }
}
