package io.kvasir.cli;

import io.kvasir.testing.Prompts;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.UnaryOperator;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.kvasir.engine.BuiltinModel;
import io.kvasir.engine.Generator;
import io.kvasir.engine.Model;
import io.kvasir.engine.backend.cpu.VectorCpuBackend;
import io.kvasir.engine.sampling.SamplingParams;
import io.kvasir.proto.v1.GenerateRequest;
import io.kvasir.proto.v1.GenerateResponse;
import io.kvasir.proto.v1.GenerationServiceGrpc;

/** `kvasir serve` in this JVM (every role, real gRPC on loopback, a real kv-store member), through its public API. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ServeTest {
    @TempDir
    static Path cacheDir;

    private EmbeddedCluster cluster;
    /** The reference: the same file on a backend of its own (a backend serves one loop at a time). */
    private VectorCpuBackend referenceBackend;
    private Model reference;
    private ManagedChannel channel;
    private GenerationServiceGrpc.GenerationServiceBlockingStub api;

    @BeforeAll
    void start() {
        Path model = BuiltinModel.ensure(cacheDir);
        cluster = new EmbeddedCluster(new EmbeddedCluster.Options(model, "127.0.0.1", 0, 0, 5881, 16, 1024, 16, 2, 256, 2, io.kvasir.router.ApiKeys.open(),
                io.kvasir.router.TenantLimits.none()));
        referenceBackend = new VectorCpuBackend(1);
        reference = Model.load(model, referenceBackend);
        channel = NettyChannelBuilder.forAddress("127.0.0.1", cluster.apiPort()).usePlaintext().build();
        api = GenerationServiceGrpc.newBlockingStub(channel);
    }

    @AfterAll
    void stop() {
        channel.shutdownNow();
        cluster.close();
        reference.close();
        referenceBackend.close();
    }

    static int[] prompt(int n, int seed) {
        return Prompts.of(n, seed, 373);
    }

    record Reply(int[] tokens, String text, GenerateResponse last) {
    }

    Reply call(GenerateRequest request) {
        List<Integer> tokens = new ArrayList<>();
        StringBuilder text = new StringBuilder();
        GenerateResponse last = null;
        Iterator<GenerateResponse> it = api.withDeadlineAfter(60, TimeUnit.SECONDS).generate(request);
        while (it.hasNext()) {
            last = it.next();
            tokens.addAll(last.getTokenIdsList());
            text.append(last.getText());
        }
        return new Reply(tokens.stream().mapToInt(Integer::intValue).toArray(), text.toString(), last);
    }

    static GenerateRequest tokensRequest(int[] prompt, int maxTokens, UnaryOperator<GenerateRequest.Builder> more) {
        GenerateRequest.Builder b = GenerateRequest.newBuilder().setMaxTokens(maxTokens);
        Arrays.stream(prompt).forEach(b::addPromptTokens);
        return more.apply(b).build();
    }

    int[] local(int[] prompt, int maxTokens, SamplingParams sampling) {
        return new Generator(reference, reference.transformer().kvCacheType("auto")).generate(prompt, maxTokens, sampling, false, t -> { }).tokens();
    }

    @Test
    void tokensEqualTheSingleProcessEngineAndTheSecondRequestUsesTheCache() {
        int[] p = prompt(150, 3); // 9 full blocks + 6
        Reply cold = call(tokensRequest(p, 20, b -> b));
        cluster.cache().flush();
        Reply warm = call(tokensRequest(p, 20, b -> b));
        assertArrayEquals(local(p, 20, SamplingParams.GREEDY), cold.tokens());
        assertArrayEquals(cold.tokens(), warm.tokens());
        assertEquals(0, cold.last().getUsage().getCachedPromptTokens());
        assertEquals(144, warm.last().getUsage().getCachedPromptTokens(), "every full prompt block came from the store");
        assertEquals(150, warm.last().getUsage().getPromptTokens());
        assertEquals(20, warm.last().getUsage().getCompletionTokens());
        assertEquals("length", warm.last().getFinishReason());

        SamplingParams sampled = new SamplingParams(0.9f, 50, 0.9f, 1234);
        Reply s = call(tokensRequest(p, 20, b -> b.setSampling(io.kvasir.proto.v1.SamplingParams.newBuilder()
                .setTemperature(0.9f).setTopK(50).setTopP(0.9f).setSeed(1234))));
        assertArrayEquals(local(p, 20, sampled), s.tokens(), "seeded sampling, same tokens as the local engine");
    }

    /**
     * Every token is the model's greedy choice for the tokens before it, within float noise. A
     * batched step sums in another order than a single-token one, so on a near-tie (this random
     * model has many) the two may pick different tokens, each of them right; this checks what is
     * actually promised, by replaying the stream through the single-sequence engine.
     */
    void assertGreedy(int[] prompt, int[] generated, String what) {
        var lm = reference.transformer();
        var table = new io.kvasir.engine.kv.BlockTable(lm.newKvPool(16, 64));
        var buf = lm.newBuffers(64);
        int[] all = Arrays.copyOf(prompt, prompt.length + generated.length);
        System.arraycopy(generated, 0, all, prompt.length, generated.length);
        lm.forward(all, 0, prompt.length, table, buf);
        for (int i = 0; i < generated.length; i++) {
            float best = Float.NEGATIVE_INFINITY;
            for (int v = 0; v < lm.config().vocabSize(); v++) {
                best = Math.max(best, buf.logits[v]);
            }
            assertTrue(buf.logits[generated[i]] >= best - 1e-4f, what + ": token " + i + " (" + generated[i]
                    + ") is not a greedy choice: logit " + buf.logits[generated[i]] + " vs best " + best);
            lm.forward(all, prompt.length + i, prompt.length + i + 1, table, buf);
        }
        table.release();
    }

    @Test
    void longUncachedPromptsArePrefilledByThePrefillNodeWithTheSameTokens() {
        long before = cluster.placement().prefilled();
        int[] p = prompt(600, 77); // 600 uncached tokens: past the 256-token threshold
        SamplingParams sampled = new SamplingParams(0.9f, 50, 0.9f, 99);
        Reply viaPrefill = call(tokensRequest(p, 12, b -> b.setSampling(io.kvasir.proto.v1.SamplingParams.newBuilder()
                .setTemperature(0.9f).setTopK(50).setTopP(0.9f).setSeed(99))));
        assertEquals(before + 1, cluster.placement().prefilled(), "the prefill node took it");
        assertArrayEquals(local(p, 12, sampled), viaPrefill.tokens(),
                "first token from the prefill node, the rest from the decode node: the engine's tokens, seed and all");
        assertEquals(0, viaPrefill.last().getUsage().getCachedPromptTokens());

        cluster.cache().flush();
        Reply again = call(tokensRequest(p, 12, b -> b.setSampling(io.kvasir.proto.v1.SamplingParams.newBuilder()
                .setTemperature(0.9f).setTopK(50).setTopP(0.9f).setSeed(99))));
        assertEquals(before + 1, cluster.placement().prefilled(), "cached now: the decode node takes the rest itself");
        assertEquals(592, again.last().getUsage().getCachedPromptTokens());
        assertArrayEquals(viaPrefill.tokens(), again.tokens());
    }

    @Test
    void textPromptsAreTokenizedByTheServer() {
        Reply r = call(GenerateRequest.newBuilder().setPrompt("the model").setMaxTokens(8).build());
        int[] expected = local(reference.tokenizer().encode("the model"), 8, SamplingParams.GREEDY);
        assertArrayEquals(expected, r.tokens());
        assertArrayEquals(reference.tokenizer().encode("the model"),
                r.last().getPromptTokenIdsList().stream().mapToInt(Integer::intValue).toArray());
    }

    @Test
    void sixteenConcurrentStreamsAreBatchedAndCorrect() throws Exception {
        long[] before = stepsOfAllNodes();
        List<Future<Reply>> replies = new ArrayList<>();
        try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
            for (int i = 0; i < 16; i++) {
                int[] p = prompt(20 + i, 100 + i);
                replies.add(pool.submit(() -> call(tokensRequest(p, 32, b -> b))));
            }
            for (int i = 0; i < 16; i++) {
                assertGreedy(prompt(20 + i, 100 + i), replies.get(i).get().tokens(), "stream " + i);
            }
        }
        long[] after = stepsOfAllNodes();
        int largest = 0;
        StringBuilder seen = new StringBuilder();
        for (int b = 1; b < after.length; b++) {
            long steps = after[b] - before[b];
            if (steps > 0) {
                largest = b;
                seen.append(b).append(':').append(steps).append(' ');
            }
        }
        System.out.println("16 streams over 2 decode nodes: steps by batch size " + seen.toString().trim());
        assertTrue(largest >= 6, "decode batched the streams (largest batch " + largest + ")");
    }

    long[] stepsOfAllNodes() {
        long[] sum = new long[17];
        for (var node : cluster.decodeNodes()) {
            long[] s = node.engine().stepsByBatchSize();
            for (int b = 0; b < s.length; b++) {
                sum[b] += s[b];
            }
        }
        return sum;
    }

    @Test
    void aRepeatedPromptIsServedFromTheLocalTierOfTheNodeThatRanIt() throws Exception {
        int[] p = prompt(120, 501);
        var nodes = cluster.decodeNodes();
        int[] residentBefore = nodes.stream().mapToInt(n -> n.engine().resident().size()).toArray();
        call(tokensRequest(p, 8, b -> b));
        int holder = -1;
        for (int i = 0; i < nodes.size(); i++) {
            if (nodes.get(i).engine().resident().size() > residentBefore[i]) {
                holder = i;
            }
        }
        assertTrue(holder >= 0, "a decode node kept p's blocks");
        long[] hits = nodes.stream().mapToLong(n -> n.engine().localHitTokens()).toArray();
        for (var n : nodes) {
            n.announcer().announce(); // heartbeats now, not in 2 s
        }
        Reply again = call(tokensRequest(p, 8, b -> b));
        assertEquals(112, again.last().getUsage().getCachedPromptTokens());
        for (int i = 0; i < nodes.size(); i++) {
            assertEquals(i == holder ? 112 : 0, nodes.get(i).engine().localHitTokens() - hits[i],
                    "node " + i + (i == holder ? " held p's blocks and got the repeat" : " did not"));
        }
    }

    @Test
    void badRequestsNameTheFieldAndTheServerKeepsServing() {
        int[] p = prompt(10, 1);
        String[][] cases = {
                {"prompt", "neither"},
                {"prompt", "both"},
                {"prompt_tokens[1]", "range"},
                {"max_tokens", "zero"},
                {"max_tokens", "context"},
                {"sampling.temperature", "negative"},
                {"sampling.top_p", "above one"},
        };
        for (String[] c : cases) {
            GenerateRequest bad = switch (c[1]) {
                case "neither" -> GenerateRequest.newBuilder().setMaxTokens(4).build();
                case "both" -> tokensRequest(p, 4, b -> b.setPrompt("hi"));
                case "range" -> tokensRequest(new int[] {1, 99999}, 4, b -> b);
                case "zero" -> tokensRequest(p, 0, b -> b);
                case "context" -> tokensRequest(p, 1_000_000, b -> b);
                case "negative" -> tokensRequest(p, 4, b -> b.setSampling(
                        io.kvasir.proto.v1.SamplingParams.newBuilder().setTemperature(-1)));
                case "above one" -> tokensRequest(p, 4, b -> b.setSampling(
                        io.kvasir.proto.v1.SamplingParams.newBuilder().setTopP(1.5f)));
                default -> throw new IllegalStateException();
            };
            var e = assertThrows(StatusRuntimeException.class, () -> call(bad), c[1]);
            assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode(), c[1]);
            assertTrue(e.getStatus().getDescription().startsWith(c[0]), c[1] + ": " + e.getStatus().getDescription());
        }
        assertEquals(4, call(tokensRequest(p, 4, b -> b)).tokens().length, "still serving");
        var health = HealthGrpc.newBlockingStub(channel).check(HealthCheckRequest.newBuilder()
                .setService(GenerationServiceGrpc.SERVICE_NAME).build());
        assertEquals(HealthCheckResponse.ServingStatus.SERVING, health.getStatus());
    }
}
