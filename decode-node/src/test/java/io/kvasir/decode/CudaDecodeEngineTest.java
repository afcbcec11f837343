package io.kvasir.decode;

import io.kvasir.testing.LocalStore;
import io.kvasir.testing.Golden;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import io.kvasir.engine.loop.EngineLoop;
import io.kvasir.cuda.CudaDevice;
import io.kvasir.engine.Generator;
import io.kvasir.engine.Model;
import io.kvasir.engine.backend.cpu.VectorCpuBackend;
import io.kvasir.engine.sampling.SamplingParams;
import io.kvasir.engine.kv.KvCacheType;
import io.kvasir.node.NodeCaches;
import io.kvasir.node.StorePrefixCache;

/**
 * The GPU decode node: three sequences batched on the device give the CPU engine's greedy tokens,
 * and a repeat finds its prompt cached. Skipped, with the reason, where no GPU is.
 */
class CudaDecodeEngineTest {
    static final Path MODEL = Golden.model("llama-gqa");

    @Test
    void batchedSequencesOnTheGpuGiveTheCpuEnginesTokens() throws Exception {
        var missing = CudaDevice.unavailable();
        Assumptions.assumeTrue(missing.isEmpty(), () -> "skipped: " + missing.orElse(""));
        try (LocalStore store = LocalStore.start();
                VectorCpuBackend backend = new VectorCpuBackend(2); Model model = Model.load(MODEL, backend);
                StorePrefixCache cache = NodeCaches.storeCache(store.client(), model, 16, KvCacheType.F32);
                CudaDevice device = CudaDevice.open(0);
                CudaDecodeEngine engine = new CudaDecodeEngine(device, model, cache, 16, 256, 8)) {
            List<int[]> prompts = new ArrayList<>();
            List<CompletableFuture<int[]>> results = new ArrayList<>();
            for (int p = 0; p < 3; p++) {
                int[] prompt = new int[30 + 7 * p];
                for (int i = 0; i < prompt.length; i++) {
                    prompt[i] = 3 + (i * 7919 + p * 31) % 250;
                }
                prompts.add(prompt);
                results.add(submit(engine, prompt));
            }
            for (int p = 0; p < 3; p++) {
                int[] expected = new Generator(model).generate(prompts.get(p), 12, SamplingParams.GREEDY, false, t -> { })
                        .tokens();
                assertArrayEquals(expected, results.get(p).get(60, TimeUnit.SECONDS), "sequence " + p);
            }
            CompletableFuture<EngineLoop.Finish> finish = new CompletableFuture<>();
            engine.submit(new EngineLoop.Request("alpha", prompts.get(2), 4, SamplingParams.GREEDY),
                    listener(new ArrayList<>(), new CompletableFuture<>(), finish));
            assertEquals(32, finish.get(60, TimeUnit.SECONDS).cachedPromptTokens(), "the repeat's prefix is cached");
        }
    }

    private static CompletableFuture<int[]> submit(CudaDecodeEngine engine, int[] prompt) {
        List<Integer> tokens = new ArrayList<>();
        CompletableFuture<int[]> done = new CompletableFuture<>();
        engine.submit(new EngineLoop.Request("alpha", prompt, 12, SamplingParams.GREEDY),
                listener(tokens, done, new CompletableFuture<>()));
        return done;
    }

    private static EngineLoop.Listener listener(List<Integer> tokens, CompletableFuture<int[]> done,
            CompletableFuture<EngineLoop.Finish> finished) {
        return new EngineLoop.Listener() {
            @Override
            public void onToken(int token) {
                tokens.add(token);
            }

            @Override
            public void onFinish(EngineLoop.Finish finish) {
                done.complete(tokens.stream().mapToInt(Integer::intValue).toArray());
                finished.complete(finish);
            }

            @Override
            public void onError(RuntimeException e) {
                done.completeExceptionally(e);
                finished.completeExceptionally(e);
            }
        };
    }
}
