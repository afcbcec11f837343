package io.kvasir.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.kvasir.engine.backend.cpu.VectorCpuBackend;
import io.kvasir.engine.sampling.SamplingParams;
import io.kvasir.engine.tensor.DType;
import io.kvasir.testing.Golden;
import io.kvasir.engine.testing.HfFolderWriter;
import io.kvasir.engine.weights.GgufFile;
import java.nio.file.Path;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The same model as a Hugging Face folder (config.json + safetensors, rotate-half Q/K rows,
 * rope_scaling instead of rope_freqs) gives the GGUF path's logits and tokens.
 */
class HuggingFaceLayoutTest {
    @TempDir
    Path tmp;

    @ParameterizedTest(name = "{0}, {1} shard(s)")
    @CsvSource({"llama-gqa,1", "llama-mqa,2", "llama-wide,1", "llama3-rope,3", "qwen2-tiny,1", "qwen2-mqa,2", "qwen3-tiny,1", "qwen3-hd16,2",
            "mixtral-tiny,1", "qwen3moe-tiny,2", "ds2-moe,1", "ds2-moe-sig,2",
            "ds2-tiny,1", "ds2-qlora,2", "ds2-kvb,1", "ds2-yarn,1"})
    void f32Folder_matchesGguf(String name, int shards) throws Exception {
        Path folder = tmp.resolve(name);
        try (GgufFile gguf = GgufFile.open(Golden.model(name))) {
            new HfFolderWriter(gguf).write(folder, DType.F32, shards);
        }
        Golden.Reference ref = Golden.reference(name);
        try (var backend = new VectorCpuBackend(2);
             Model fromGguf = Model.load(Golden.model(name), backend);
             Model fromHf = Model.load(folder, backend)) {
            assertEquals(fromGguf.transformer().config().tiedEmbeddings(), fromHf.transformer().config().tiedEmbeddings());
            var a = new Generator(fromGguf).generate(ref.prompt(), 20, SamplingParams.GREEDY, true, t -> {});
            var b = new Generator(fromHf).generate(ref.prompt(), 20, SamplingParams.GREEDY, true, t -> {});
            float diff = Golden.maxAbsDiff(a.lastPromptLogits(), b.lastPromptLogits());
            System.out.printf("%s: HF folder vs GGUF max |logit diff| = %.2e%n", name, diff);
            assertTrue(diff < 1e-4, "max |logit diff| " + diff);
            assertArrayEquals(a.tokens(), b.tokens());
            assertArrayEquals(ref.greedy(), b.tokens(), "HF folder vs llama.cpp greedy tokens");
        }
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource({"BF16", "F16"})
    void halfPrecisionFolder_staysCloseToF32(DType dtype) throws Exception {
        Path folder = tmp.resolve("wide-" + dtype);
        try (GgufFile gguf = GgufFile.open(Golden.model("llama-wide"))) {
            new HfFolderWriter(gguf).write(folder, dtype, 1);
        }
        Golden.Reference ref = Golden.reference("llama-wide");
        try (var backend = new VectorCpuBackend(2); Model m = Model.load(folder, backend)) {
            var r = new Generator(m).generate(ref.prompt(), 1, SamplingParams.GREEDY, true, t -> {});
            float diff = Golden.maxAbsDiff(r.lastPromptLogits(), ref.lastLogits());
            System.out.printf("llama-wide as %s safetensors: max |logit diff| vs llama.cpp F32 = %.2e%n", dtype, diff);
            // bf16 keeps 8 mantissa bits, f16 11: the logits (|l| ~ 1) move by ~1e-2 and ~1e-3
            assertTrue(diff < (dtype == DType.BF16 ? 0.1 : 0.02), "max |logit diff| " + diff);
        }
    }
}
