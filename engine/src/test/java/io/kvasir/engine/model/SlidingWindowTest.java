package io.kvasir.engine.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.kvasir.engine.Model;
import io.kvasir.engine.backend.Backend;
import io.kvasir.engine.backend.cpu.VectorCpuBackend;
import io.kvasir.engine.backend.reference.ReferenceBackend;
import io.kvasir.engine.kv.BlockTable;
import io.kvasir.engine.kv.KvBlockPool;
import io.kvasir.engine.testing.BruteForceLlama;
import io.kvasir.testing.Golden;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Sliding-window attention against a brute-force reference (a plain forward pass that keeps every
 * position and masks those outside the window), across the window boundary; and the engine's KV
 * memory stays flat once the sequence is longer than the window.
 */
class SlidingWindowTest {
    private static final int TOKENS = 60;

    @ParameterizedTest(name = "window {0}, blocks of {1}, {2}")
    @CsvSource({"7,4,reference", "7,4,vector", "16,16,vector", "5,3,vector"})
    void windowedDecodeEqualsAMaskedReferenceAndKvStaysFlat(int window, int blockSize, String backendKind) {
        int[] tokens = new int[TOKENS];
        for (int i = 0; i < TOKENS; i++) {
            tokens[i] = 3 + (i * 7919 + 13) % 500;
        }
        try (Backend backend = backendKind.equals("vector") ? new VectorCpuBackend(2) : new ReferenceBackend();
                Model model = Model.load(Golden.model("llama-gqa"), backend)) {
            ModelConfig config = model.transformer().config().withSlidingWindow(window);
            LlamaModel windowed = new LlamaModel(config, model.transformer().weights(), backend);
            BruteForceLlama reference = new BruteForceLlama(config, model.transformer().weights(), window);
            BruteForceLlama full = new BruteForceLlama(config, model.transformer().weights(), Integer.MAX_VALUE);
            KvBlockPool pool = windowed.newKvPool(blockSize, TOKENS / blockSize + 2);
            BlockTable table = new BlockTable(pool);
            ForwardBuffers buf = windowed.newBuffers(1);
            float worst = 0, fullDiffPastWindow = 0;
            int mostBlocks = 0;
            for (int pos = 0; pos < TOKENS; pos++) {
                windowed.forward(tokens, pos, pos + 1, table, buf);
                float[] want = reference.step(tokens[pos], pos);
                float[] unwindowed = full.step(tokens[pos], pos);
                for (int i = 0; i < want.length; i++) {
                    worst = Math.max(worst, Math.abs(want[i] - buf.logits[i]));
                    if (pos >= window) {
                        fullDiffPastWindow = Math.max(fullDiffPastWindow, Math.abs(unwindowed[i] - buf.logits[i]));
                    }
                }
                mostBlocks = Math.max(mostBlocks, table.numLiveBlocks());
            }
            int bound = (window + blockSize - 2) / blockSize + 1; // blocks a window can touch
            System.out.printf("window %d, blocks of %d on %s: worst |logit diff| vs masked reference %.2e over %d "
                    + "positions; vs no window %.2e; at most %d live blocks (bound %d, %d tokens need %d)%n", window,
                    blockSize, backendKind, worst, TOKENS, fullDiffPastWindow, mostBlocks, bound, TOKENS,
                    (TOKENS + blockSize - 1) / blockSize);
            assertTrue(worst < 1e-4, "worst diff " + worst);
            assertTrue(fullDiffPastWindow > 1e-3, "the window changes nothing? " + fullDiffPastWindow);
            assertTrue(mostBlocks <= bound, mostBlocks + " live blocks, a window of " + window + " needs " + bound);
            assertEquals(pool.maxBlocks() - table.numLiveBlocks(), pool.numAvailable(), "released blocks are reusable");
        }
    }

    @ParameterizedTest(name = "chunks of {0}")
    @CsvSource({"8", "64"})
    void chunkedPrefillHonoursTheWindowPerToken(int chunk) {
        int[] tokens = new int[TOKENS];
        for (int i = 0; i < TOKENS; i++) {
            tokens[i] = 3 + (i * 7919 + 13) % 500;
        }
        try (Backend backend = new VectorCpuBackend(2); Model model = Model.load(Golden.model("llama-gqa"), backend)) {
            ModelConfig config = model.transformer().config().withSlidingWindow(9);
            LlamaModel windowed = new LlamaModel(config, model.transformer().weights(), backend);
            BruteForceLlama reference = new BruteForceLlama(config, model.transformer().weights(), 9);
            float[] want = null;
            for (int pos = 0; pos < TOKENS; pos++) {
                want = reference.step(tokens[pos], pos);
            }
            BlockTable table = new BlockTable(windowed.newKvPool(4, TOKENS / 4 + 2));
            ForwardBuffers buf = windowed.newBuffers(chunk);
            windowed.forward(tokens, 0, TOKENS, table, buf);
            float worst = 0;
            for (int i = 0; i < want.length; i++) {
                worst = Math.max(worst, Math.abs(want[i] - buf.logits[i]));
            }
            assertTrue(worst < 1e-4, "worst diff " + worst);
            assertTrue(table.numLiveBlocks() <= 4, table.numLiveBlocks() + " live blocks after the prompt");
        }
    }

    @org.junit.jupiter.api.Test
    void huggingFaceConfigsSetTheWindowsTransformersUses(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir)
            throws Exception {
        String common = "\"hidden_size\": 64, \"num_attention_heads\": 4, \"num_hidden_layers\": 3, "
                + "\"intermediate_size\": 128, \"vocab_size\": 512";
        java.nio.file.Path f = dir.resolve("config.json");
        java.nio.file.Files.writeString(f, "{\"architectures\": [\"MistralForCausalLM\"], " + common
                + ", \"sliding_window\": 4096}");
        ModelConfig mistral = HfConfigReader.read(f, true);
        assertEquals(4096, mistral.window(0));
        assertEquals(4096, mistral.widestWindow());
        java.nio.file.Files.writeString(f, "{\"architectures\": [\"MistralForCausalLM\"], " + common
                + ", \"sliding_window\": null}");
        assertEquals(Integer.MAX_VALUE, HfConfigReader.read(f, true).widestWindow());
        java.nio.file.Files.writeString(f, "{\"architectures\": [\"Qwen2ForCausalLM\"], " + common
                + ", \"sliding_window\": 256, \"use_sliding_window\": false}");
        assertEquals(Integer.MAX_VALUE, HfConfigReader.read(f, true).window(2));
        java.nio.file.Files.writeString(f, "{\"architectures\": [\"Qwen2ForCausalLM\"], " + common
                + ", \"sliding_window\": 256, \"use_sliding_window\": true, \"max_window_layers\": 1}");
        ModelConfig qwen = HfConfigReader.read(f, true);
        assertEquals(Integer.MAX_VALUE, qwen.window(0), "below max_window_layers: full attention");
        assertEquals(256, qwen.window(1));
        assertEquals(Integer.MAX_VALUE, qwen.widestWindow(), "a global layer keeps every block alive");
    }
}
