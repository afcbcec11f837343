package io.kvasir.engine.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.kvasir.engine.BuiltinModel;
import io.kvasir.engine.Generator;
import io.kvasir.engine.Model;
import io.kvasir.engine.ModelFormatException;
import io.kvasir.engine.backend.Backend;
import io.kvasir.engine.backend.cpu.VectorCpuBackend;
import io.kvasir.engine.backend.reference.ReferenceBackend;
import io.kvasir.engine.kv.BlockTable;
import io.kvasir.engine.sampling.SamplingParams;
import io.kvasir.engine.tensor.DType;
import io.kvasir.engine.testing.BruteForceLlama;
import io.kvasir.engine.testing.HfFolderWriter;
import io.kvasir.engine.weights.GgufFile;
import io.kvasir.engine.weights.GgufWriter;
import io.kvasir.testing.Golden;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Cross-layer KV sharing (CLA): a model the project's GGUF writer makes with K/V projections on
 * every second layer only, against a brute-force forward pass in which the other layers attend to
 * the owner's K/V lists; the pool caches half the layers; the Hugging Face twin (Hunyuan's config
 * keys) loads the same model; files that disagree with their share factor are refused.
 */
class CrossLayerKvTest {
    private static final int TOKENS = 40;
    @TempDir
    static Path dir;
    private static Path model;

    @BeforeAll
    static void writeModel() {
        model = BuiltinModel.ensure(dir, BuiltinModel.DEFAULT.withKvSharing(2));
    }

    @ParameterizedTest(name = "blocks of {0}, {1}")
    @CsvSource({"4,reference", "16,vector", "5,vector"})
    void decodeAndChunkedPrefillEqualABruteForcePassOverTheOwnersKv(int blockSize, String backendKind) {
        int[] tokens = new int[TOKENS];
        for (int i = 0; i < TOKENS; i++) {
            tokens[i] = 3 + (i * 7919 + 13) % 350;
        }
        try (Backend backend = backendKind.equals("vector") ? new VectorCpuBackend(2) : new ReferenceBackend();
                Model m = Model.load(model, backend)) {
            LlamaModel engine = m.transformer();
            BruteForceLlama reference = new BruteForceLlama(engine.config(), engine.weights(), Integer.MAX_VALUE);
            BlockTable stepped = new BlockTable(engine.newKvPool(blockSize, TOKENS / blockSize + 2));
            ForwardBuffers one = engine.newBuffers(1);
            float worst = 0;
            float[] want = null;
            for (int pos = 0; pos < TOKENS; pos++) {
                engine.forward(tokens, pos, pos + 1, stepped, one);
                want = reference.step(tokens[pos], pos);
                worst = Math.max(worst, Golden.maxAbsDiff(one.logits, want));
            }
            BlockTable prefilled = new BlockTable(engine.newKvPool(blockSize, TOKENS / blockSize + 2));
            ForwardBuffers chunks = engine.newBuffers(16);
            engine.forward(tokens, 0, TOKENS, prefilled, chunks);
            float prefillDiff = Golden.maxAbsDiff(chunks.logits, want);
            System.out.printf("CLA (share factor 2), blocks of %d on %s: worst |logit diff| vs brute force %.2e over %d "
                    + "decode steps, %.2e after a chunked prefill%n", blockSize, backendKind, worst, TOKENS, prefillDiff);
            assertTrue(worst < 2e-5, "decode diff " + worst);
            assertTrue(prefillDiff < 2e-5, "prefill diff " + prefillDiff);
        }
    }

    @Test
    void onlyTheOwningLayersHaveKvWeightsAndCacheSlots() {
        try (Backend backend = new ReferenceBackend(); Model m = Model.load(model, backend)) {
            ModelConfig c = m.transformer().config();
            assertEquals(2, c.kvShareFactor());
            assertEquals(2, c.cachedLayers(), "4 layers, K/V of 2");
            assertEquals(2, m.transformer().newKvPool(16, 2).numLayers());
            for (int l = 0; l < c.numLayers(); l++) {
                LlamaWeights.Layer w = m.transformer().weights().layers().get(l);
                if (l % 2 == 0) {
                    assertNotNull(w.wk());
                    assertEquals(l / 2, c.kvLayer(l));
                } else {
                    assertNull(w.wk(), "layer " + l + " has no K projection");
                    assertEquals(l / 2, c.kvLayer(l), "layer " + l + " reads layer " + (l - 1) + "'s K/V");
                }
            }
        }
    }

    @Test
    void filesThatDisagreeWithTheirShareFactorAreRefusedNamingWhy() throws Exception {
        Path kept = modified(model, "kept-k.gguf", w -> w.metadata.put("llama.attention.cla_share_factor", 4));
        assertContains(refusal(kept), kept.toString(), "tensor blk.2.attn_k.weight", "layer 2 reuses layer 0's K/V");
        Path zero = modified(model, "zero.gguf", w -> w.metadata.put("llama.attention.cla_share_factor", 0));
        assertContains(refusal(zero), "cla_share_factor must be in [1, 4]", "got 0");
        Path missing = modified(model, "missing.gguf", w -> w.metadata.remove("llama.attention.cla_share_factor"));
        assertContains(refusal(missing), "missing tensor blk.1.attn_k.weight");
        Path mla = modified(Golden.model("ds2-moe"), "mla.gguf",
                w -> w.metadata.put("deepseek2.attention.cla_share_factor", 2));
        assertContains(refusal(mla), "cross-layer KV sharing", "not supported with MLA");
    }

    @Test
    void huggingFaceConfigsNameItAsHunyuanDoes() throws Exception {
        String common = "\"architectures\": [\"LlamaForCausalLM\"], \"hidden_size\": 64, \"num_attention_heads\": 4, "
                + "\"num_hidden_layers\": 4, \"intermediate_size\": 128, \"vocab_size\": 512";
        Path f = dir.resolve("config.json");
        Files.writeString(f, "{" + common + ", \"use_cla\": true, \"cla_share_factor\": 2}");
        assertEquals(2, HfConfigReader.read(f, true).kvShareFactor());
        Files.writeString(f, "{" + common + ", \"use_cla\": false, \"cla_share_factor\": 2}");
        assertEquals(1, HfConfigReader.read(f, true).kvShareFactor());
        Files.writeString(f, "{" + common + "}");
        assertEquals(4, HfConfigReader.read(f, true).cachedLayers(), "no CLA: every layer cached");
    }

    @Test
    void aHuggingFaceTwinGivesTheSameLogits() throws Exception {
        Path folder = dir.resolve("hf-cla");
        try (GgufFile gguf = GgufFile.open(model)) {
            new HfFolderWriter(gguf).write(folder, DType.F32, 1);
        }
        int[] prompt = {1, 40, 77, 300, 12, 9, 250, 31};
        try (Backend backend = new VectorCpuBackend(2); Model gguf = Model.load(model, backend);
                Model hf = Model.load(folder, backend)) {
            assertEquals(2, hf.transformer().config().kvShareFactor());
            var a = new Generator(gguf).generate(prompt, 8, SamplingParams.GREEDY, true, t -> { });
            var b = new Generator(hf).generate(prompt, 8, SamplingParams.GREEDY, true, t -> { });
            float diff = Golden.maxAbsDiff(a.lastPromptLogits(), b.lastPromptLogits());
            System.out.printf("CLA: HF folder vs GGUF max |logit diff| = %.2e%n", diff);
            assertTrue(diff < 1e-4, "max |logit diff| " + diff);
            assertArrayEquals(a.tokens(), b.tokens());
        }
    }

    private static Path modified(Path from, String name, java.util.function.Consumer<GgufWriter> change) throws Exception {
        GgufWriter w = GgufWriter.copyOf(from);
        change.accept(w);
        Path file = dir.resolve(name);
        w.write(file);
        return file;
    }

    private static String refusal(Path file) {
        try (Backend backend = new ReferenceBackend()) {
            return assertThrows(ModelFormatException.class, () -> Model.load(file, backend).close()).getMessage();
        }
    }

    private static void assertContains(String message, String... parts) {
        for (String p : parts) {
            assertTrue(message.contains(p), "\"" + message + "\" should mention \"" + p + "\"");
        }
    }
}
