package io.kvasir.decode;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;

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
import io.kvasir.engine.Generator;
import io.kvasir.engine.Model;
import io.kvasir.engine.backend.cpu.VectorCpuBackend;
import io.kvasir.engine.kv.KvCacheType;
import io.kvasir.engine.sampling.SamplingParams;
import io.kvasir.node.NodeCaches;
import io.kvasir.node.StorePrefixCache;
import io.kvasir.proto.internal.v1.DecodeRequest;
import io.kvasir.proto.internal.v1.DecodeResponse;
import io.kvasir.proto.internal.v1.DecodeServiceGrpc;
import io.kvasir.testing.Golden;
import io.kvasir.testing.LocalStore;
import io.kvasir.testing.Prompts;

/**
 * A decode node's internal API as any caller on the network may call it (the router is not the
 * only one that can reach it): a real node — engine, gRPC server, a KV-store member behind it —
 * takes requests whose every field the fuzzer chooses. Each is answered within a deadline with
 * tokens of the model's vocabulary, no more than asked for, or refused with INVALID_ARGUMENT or
 * RESOURCE_EXHAUSTED and a message; the node's pool is whole again after each; and after all of
 * them a correct request gets the model's own tokens.
 */
public class DecodeRequestFuzzTest {
    private static final int BLOCK = 16;
    private static final int MAX_BLOCKS = 48;
    private static final Set<Status.Code> REFUSALS = Set.of(Status.Code.INVALID_ARGUMENT, Status.Code.RESOURCE_EXHAUSTED);
    private static VectorCpuBackend backend;
    private static Model model;
    private static LocalStore store;
    private static StorePrefixCache cache;
    private static DecodeEngine engine;
    private static Server server;
    private static ManagedChannel channel;
    private static DecodeServiceGrpc.DecodeServiceBlockingStub stub;
    private static int vocab;
    private static int[] afterPrompt;
    private static int[] afterTokens;

    @BeforeAll
    static void startANode() throws Exception {
        backend = new VectorCpuBackend(1);
        model = Model.load(Golden.model("llama-gqa"), backend);
        vocab = model.transformer().config().vocabSize();
        afterPrompt = Prompts.of(40, 7, vocab);
        afterTokens = new Generator(model, KvCacheType.F32).generate(afterPrompt, 12, SamplingParams.GREEDY, false,
                t -> { }).tokens();
        store = LocalStore.start();
        cache = NodeCaches.storeCache(store.client(), model, BLOCK, KvCacheType.F32);
        engine = new DecodeEngine(model, cache, BLOCK, MAX_BLOCKS, 4, 64);
        engine.loop().limitWaiting(4);
        server = NettyServerBuilder.forPort(0).addService(new DecodeGrpcService(engine)).build().start();
        channel = NettyChannelBuilder.forAddress("127.0.0.1", server.getPort()).usePlaintext().build();
        stub = DecodeServiceGrpc.newBlockingStub(channel);
    }

    @AfterAll
    static void aCorrectRequestAfterwardsGetsTheModelsTokens() throws Exception {
        try {
            DecodeRequest.Builder request = DecodeRequest.newBuilder().setTenant("after").setMaxTokens(12);
            Arrays.stream(afterPrompt).forEach(request::addPromptTokens);
            List<Integer> got = new ArrayList<>();
            stub.withDeadlineAfter(30, TimeUnit.SECONDS).decode(request.build()).forEachRemaining(r -> got.addAll(r.getTokenIdsList()));
            if (!Arrays.equals(afterTokens, got.stream().mapToInt(Integer::intValue).toArray())) {
                throw new AssertionError("after the fuzzing, a correct request got " + got + ", the model says "
                        + Arrays.toString(afterTokens));
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
    void requestsAreAnsweredOrRefused(FuzzedDataProvider data) throws InterruptedException {
        DecodeRequest request = request(data);
        List<Integer> tokens = new ArrayList<>();
        String finish = "";
        try {
            Iterator<DecodeResponse> responses = stub.withDeadlineAfter(60, TimeUnit.SECONDS).decode(request);
            while (responses.hasNext()) {
                DecodeResponse r = responses.next();
                tokens.addAll(r.getTokenIdsList());
                finish = r.getFinishReason();
            }
        } catch (StatusRuntimeException e) {
            if (!REFUSALS.contains(e.getStatus().getCode()) || e.getStatus().getDescription() == null
                    || e.getStatus().getDescription().isBlank()) {
                throw new AssertionError("answered " + e.getStatus() + " to " + request, e);
            }
            awaitWholePool(request);
            return;
        }
        if (finish.isEmpty() || tokens.size() > request.getMaxTokens()) {
            throw new AssertionError(tokens.size() + " tokens, finish '" + finish + "' for " + request);
        }
        for (int t : tokens) {
            if (t < 0 || t >= vocab) {
                throw new AssertionError("token " + t + " outside the vocabulary for " + request);
            }
        }
        awaitWholePool(request);
    }

    /** Fields as a caller may set them: mostly near what the router sends, sometimes anything at all. */
    private static DecodeRequest request(FuzzedDataProvider data) {
        DecodeRequest.Builder b = DecodeRequest.newBuilder();
        b.setTenant(data.consumeString(40));
        prompt(data, vocab).forEach(b::addPromptTokens);
        b.setMaxTokens(data.consumeBoolean() ? data.consumeInt(-2, 40) : data.consumeInt());
        b.setSampling(sampling(data));
        b.setPrefilled(data.consumeBoolean());
        b.setFirstToken(data.consumeBoolean() ? data.consumeInt(0, vocab - 1) : data.consumeInt());
        b.setCachedPromptTokens(data.consumeInt());
        b.setIgnoreEos(data.consumeBoolean());
        b.setCacheOwner(data.consumeString(40));
        b.setWeight(data.consumeInt());
        b.setCachedSsdTokens(data.consumeInt());
        return b.build();
    }

    /**
     * A prompt of up to 300 tokens from a few bytes: one of four fixed prompts cut at any length (so
     * that later inputs find earlier ones' blocks cached), with up to three tokens the fuzzer sets.
     */
    public static List<Integer> prompt(FuzzedDataProvider data, int vocab) {
        int[] base = Prompts.of(300, data.consumeInt(0, 3), vocab);
        List<Integer> prompt = new ArrayList<>(Arrays.stream(base, 0, data.consumeInt(0, 300)).boxed().toList());
        int changes = prompt.isEmpty() ? 0 : data.consumeInt(0, 3);
        for (int i = 0; i < changes; i++) {
            prompt.set(data.consumeInt(0, prompt.size() - 1), data.consumeInt());
        }
        return prompt;
    }

    private static void awaitWholePool(DecodeRequest request) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (engine.loop().blocks().freeBlocks() < engine.loop().blocks().totalBlocks()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError(engine.loop().blocks().totalBlocks() - engine.loop().blocks().freeBlocks()
                        + " KV blocks still held 5 s after the answer to " + request);
            }
            Thread.sleep(1);
        }
    }

    /** Sampling parameters with every field the fuzzer's: temperature, top-k/p, penalties, bias, logprobs, a grammar. */
    public static io.kvasir.proto.v1.SamplingParams sampling(FuzzedDataProvider data) {
        io.kvasir.proto.v1.SamplingParams.Builder sampling = io.kvasir.proto.v1.SamplingParams.newBuilder()
                .setTemperature(data.consumeBoolean() ? data.consumeRegularFloat(0, 2) : data.consumeFloat())
                .setTopP(data.consumeFloat()).setTopK(data.consumeInt()).setSeed(data.consumeLong());
        if (data.consumeBoolean()) {
            sampling.setMinP(data.consumeFloat()).setPresencePenalty(data.consumeFloat())
                    .setFrequencyPenalty(data.consumeFloat()).setRepetitionPenalty(data.consumeFloat())
                    .putLogitBias(data.consumeInt(), data.consumeFloat())
                    .setLogprobs(data.consumeBoolean()).setTopLogprobs(data.consumeInt(-2, 30))
                    .setStructuredOutput(data.consumeString(12)); // short: a grammar's compile is exponential at worst
        }
        return sampling.build();
    }
}
