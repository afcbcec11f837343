package io.kvasir.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import io.kvasir.engine.backend.cpu.VectorCpuBackend;
import io.kvasir.engine.sampling.SamplingParams;
import io.kvasir.testing.Golden;

/**
 * GGUF files in ggml's 2- to 6-bit formats (make_gguf.py, one model; a Q4_K_M-style mix of Q4_K and
 * Q6_K tensors): the engine's logits against a float64 forward pass dequantizing the same bytes
 * (ref_forward.py), and its greedy tokens against llama.cpp's run of the file, which also rounds
 * every activation to 8 bits before a quantized matmul, so it agrees only to that rounding.
 */
class QuantizedFormatsTest {
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"quant-q4_0", "quant-q4_1", "quant-q5_0", "quant-q5_1", "quant-q2_k", "quant-q3_k",
        "quant-q4_k", "quant-q5_k", "quant-q6_k", "quant-mix"})
    void logitsWithin1e3OfTheFloat64ReferenceOnTheSameBytes(String name) {
        Golden.Reference exact = Golden.reference(name + "-f64");
        Golden.Reference llamaCpp = Golden.reference(name);
        for (VectorCpuBackend.Path path : VectorCpuBackend.Path.values()) {
            try (var backend = new VectorCpuBackend(2, path); Model m = Model.load(Golden.model(name), backend)) {
                var r = new Generator(m, io.kvasir.engine.kv.KvCacheType.F32).generate(exact.prompt(), 20,
                        SamplingParams.GREEDY, true, t -> { });
                float diff = Golden.maxAbsDiff(r.lastPromptLogits(), exact.lastLogits());
                float gap = Golden.maxAbsDiff(r.lastPromptLogits(), llamaCpp.lastLogits());
                int same = 0;
                for (int i = 0; i < 20; i++) {
                    same += r.tokens()[i] == llamaCpp.greedy()[i] ? 1 : 0;
                }
                System.out.printf("%s (%s path): max |logit diff| %.2e against float64, %.2e against llama.cpp; "
                        + "greedy %d/20 equal to llama.cpp's%n", name, path, diff, gap, same);
                assertTrue(diff < 1e-3f, path + ": max |logit diff| " + diff);
                assertArrayEquals(exact.greedy(), r.tokens(), path + ": greedy tokens differ from the float64 reference's");
            }
        }
    }
}
