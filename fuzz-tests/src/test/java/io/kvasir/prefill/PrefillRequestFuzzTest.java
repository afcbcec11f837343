package io.kvasir.prefill;

import java.util.Arrays;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;

import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.kvasir.decode.DecodeRequestFuzzTest;
import io.kvasir.engine.Generator;
import io.kvasir.engine.Model;
import io.kvasir.engine.backend.cpu.VectorCpuBackend;
import io.kvasir.engine.kv.KvCacheType;
import io.kvasir.engine.sampling.SamplingParams;
import io.kvasir.node.NodeCaches;
import io.kvasir.node.StorePrefixCache;
import io.kvasir.proto.internal.v1.PrefillRequest;
import io.kvasir.proto.internal.v1.PrefillResponse;
import io.kvasir.proto.internal.v1.PrefillServiceGrpc;
import io.kvasir.testing.Golden;
import io.kvasir.testing.LocalStore;
import io.kvasir.testing.Prompts;

/**
 * A prefill node's internal API as any caller on the network may call it: a real node (engine,
 * gRPC server, a KV-store member it stores blocks in) takes requests whose every field the fuzzer
 * chooses. Each is answered within a deadline with a first token of the vocabulary and counts that
 * fit the prompt, or refused with INVALID_ARGUMENT or RESOURCE_EXHAUSTED and a message; the node's
 * KV is free again after each; afterwards a correct prompt gets the model's own first token.
 */
class PrefillRequestFuzzTest {
    private static final int BLOCK = 16;
    private static final Set<Status.Code> REFUSALS = Set.of(Status.Code.INVALID_ARGUMENT, Status.Code.RESOURCE_EXHAUSTED);
    private static final Pattern KV_USAGE = Pattern.compile("vllm:kv_cache_usage_perc\\{[^}]*} (\\S+)");
    private static VectorCpuBackend backend;
    private static Model model;
    private static LocalStore store;
    private static StorePrefixCache cache;
    private static PrefillEngine engine;
    private static Server server;
    private static ManagedChannel channel;
    private static PrefillServiceGrpc.PrefillServiceBlockingStub stub;
    private static int vocab;
    private static int[] afterPrompt;
    private static int afterFirstToken;

    @BeforeAll
    static void startANode() throws Exception {
        backend = new VectorCpuBackend(1);
        model = Model.load(Golden.model("llama-gqa"), backend);
        vocab = model.transformer().config().vocabSize();
        afterPrompt = Prompts.of(40, 9, vocab);
        afterFirstToken = new Generator(model, KvCacheType.F32).generate(afterPrompt, 1, SamplingParams.GREEDY, false,
                t -> { }).tokens()[0];
        store = LocalStore.start();
        cache = NodeCaches.storeCache(store.client(), model, BLOCK, KvCacheType.F32);
        engine = new PrefillEngine(model, cache, BLOCK, 48, 64);
        server = NettyServerBuilder.forPort(0).addService(new PrefillGrpcService(engine, 4)).build().start();
        channel = NettyChannelBuilder.forAddress("127.0.0.1", server.getPort()).usePlaintext().build();
        stub = PrefillServiceGrpc.newBlockingStub(channel);
    }

    @AfterAll
    static void aCorrectPromptAfterwardsGetsTheModelsFirstToken() throws Exception {
        try {
            PrefillRequest.Builder request = PrefillRequest.newBuilder().setTenant("after");
            Arrays.stream(afterPrompt).forEach(request::addPromptTokens);
            int first = stub.withDeadlineAfter(30, TimeUnit.SECONDS).prefill(request.build()).getFirstToken();
            if (first != afterFirstToken) {
                throw new AssertionError("after the fuzzing, a correct prompt's first token is " + first
                        + ", the model says " + afterFirstToken);
            }
        } finally {
            channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
            server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
            engine.close();
            cache.close();
            store.close();
            model.close();
            backend.close();
        }
    }

    @FuzzTest(maxExecutions = 10_000)
    void promptsArePrefilledOrRefused(FuzzedDataProvider data) throws InterruptedException {
        PrefillRequest.Builder b = PrefillRequest.newBuilder();
        b.setTenant(data.consumeString(40));
        DecodeRequestFuzzTest.prompt(data, vocab).forEach(b::addPromptTokens);
        b.setSampling(DecodeRequestFuzzTest.sampling(data));
        PrefillRequest request = b.build();
        try {
            PrefillResponse r = stub.withDeadlineAfter(60, TimeUnit.SECONDS).prefill(request);
            if (r.getFirstToken() < 0 || r.getFirstToken() >= vocab || r.getCachedPromptTokens() < 0
                    || r.getCachedPromptTokens() > request.getPromptTokensCount()
                    || r.getCachedSsdTokens() > r.getCachedPromptTokens() || r.getStoredBlocks() < 0
                    || r.getStoredBlocks() > request.getPromptTokensCount() / BLOCK) {
                throw new AssertionError("answered " + r + " to " + request);
            }
        } catch (StatusRuntimeException e) {
            if (!REFUSALS.contains(e.getStatus().getCode()) || e.getStatus().getDescription() == null
                    || e.getStatus().getDescription().isBlank()) {
                throw new AssertionError("answered " + e.getStatus() + " to " + request, e);
            }
        }
        awaitFreeKv(request);
    }

    private static void awaitFreeKv(PrefillRequest request) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (true) {
            var registry = new io.prometheus.metrics.model.registry.PrometheusRegistry();
            engine.registerMetrics(registry, "m");
            Matcher m = KV_USAGE.matcher(io.kvasir.telemetry.Exposition.text(registry));
            if (!m.find()) {
                throw new AssertionError("no vllm:kv_cache_usage_perc in the node's metrics");
            }
            if (Double.parseDouble(m.group(1)) == 0) {
                return;
            }
            if (System.nanoTime() > deadline) {
                throw new AssertionError("KV " + m.group(1) + " in use 5 s after the answer to " + request);
            }
            Thread.sleep(1);
        }
    }
}
