package io.kvasir.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import io.grpc.ManagedChannel;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.kvasir.engine.BuiltinModel;
import io.kvasir.engine.Generator;
import io.kvasir.engine.Model;
import io.kvasir.engine.backend.cpu.VectorCpuBackend;
import io.kvasir.engine.kv.KvCacheType;
import io.kvasir.engine.sampling.SamplingParams;
import io.kvasir.node.EngineBlocks;
import io.kvasir.proto.v1.GenerateRequest;
import io.kvasir.proto.v1.GenerateResponse;
import io.kvasir.proto.v1.GenerationServiceGrpc;
import io.kvasir.testing.Golden;
import io.kvasir.testing.LocalStore;
import io.kvasir.testing.Prompts;

/**
 * Mixture-of-Experts and cross-layer-KV-sharing models through the whole cluster (router, prefill
 * node, decode node, a store member; the store, nodes and router unchanged): the tokens of the
 * single-process engine, the prompt's blocks (MLA latents for DeepSeek, the owning layers' K/V only
 * under CLA) put by the prefill node and loaded from the store.
 */
class ModelFamilyClusterTest {
    @TempDir
    static Path dir;

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"ds2-moe", "qwen3moe-tiny", "builtin-cla2"})
    void tokensEqualTheSingleProcessEngineColdAndFromTheStore(String name) {
        Path model = name.equals("builtin-cla2") ? BuiltinModel.ensure(dir, BuiltinModel.DEFAULT.withKvSharing(2))
                : Golden.model(name);
        int[] prompt = Prompts.of(70, 11, 379); // 4 full blocks + 6: past the 16-token prefill threshold
        int[] expected;
        try (var backend = new VectorCpuBackend(1); Model local = Model.load(model, backend)) {
            expected = new Generator(local, local.transformer().kvCacheType("auto"))
                    .generate(prompt, 16, SamplingParams.GREEDY, false, t -> { }).tokens();
        }
        try (EmbeddedCluster cluster = new EmbeddedCluster(new EmbeddedCluster.Options(model, "127.0.0.1", 0, 0,
                LocalStore.freePort(), 8, 256, 16, 2, 16, 1, io.kvasir.router.ApiKeys.open(),
                io.kvasir.router.TenantLimits.none()))) {
            ManagedChannel channel = NettyChannelBuilder.forAddress("127.0.0.1", cluster.apiPort()).usePlaintext().build();
            try {
                var api = GenerationServiceGrpc.newBlockingStub(channel);
                long prefilled = cluster.placement().prefilled();
                GenerateResponse[] last = new GenerateResponse[1];
                int[] cold = call(api, prompt, last);
                assertEquals(prefilled + 1, cluster.placement().prefilled(), "the prefill node computed the prompt");
                assertArrayEquals(expected, cold, "the cluster's tokens are the single-process engine's");
                cluster.cache().flush();
                int[] warm = call(api, prompt, last);
                assertEquals(64, last[0].getUsage().getCachedPromptTokens(), "every full block came from the store");
                assertArrayEquals(expected, warm);
            } finally {
                channel.shutdownNow();
            }
        }
    }

    @Test
    void sharedLayersPutNoBlockBytesOfTheirOwn() {
        try (var backend = new VectorCpuBackend(1);
                Model shared = Model.load(BuiltinModel.ensure(dir, BuiltinModel.DEFAULT.withKvSharing(2)), backend);
                Model plain = Model.load(BuiltinModel.ensure(dir), backend)) {
            int sharedBytes = new EngineBlocks(shared.transformer().config(), "m", 16, KvCacheType.F16).encodedBlockBytes();
            int plainBytes = new EngineBlocks(plain.transformer().config(), "m", 16, KvCacheType.F16).encodedBlockBytes();
            System.out.printf("a 16-token f16 block: %d bytes with CLA (factor 2), %d without%n", sharedBytes, plainBytes);
            assertTrue(sharedBytes < 0.6 * plainBytes, sharedBytes + " vs " + plainBytes);
        }
    }

    private static int[] call(GenerationServiceGrpc.GenerationServiceBlockingStub api, int[] prompt, GenerateResponse[] last) {
        GenerateRequest.Builder b = GenerateRequest.newBuilder().setMaxTokens(16);
        Arrays.stream(prompt).forEach(b::addPromptTokens);
        List<Integer> tokens = new ArrayList<>();
        api.withDeadlineAfter(60, TimeUnit.SECONDS).generate(b.build()).forEachRemaining(r -> {
            tokens.addAll(r.getTokenIdsList());
            last[0] = r;
        });
        return tokens.stream().mapToInt(Integer::intValue).toArray();
    }
}
