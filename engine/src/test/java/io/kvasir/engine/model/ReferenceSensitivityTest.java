package io.kvasir.engine.model;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.kvasir.engine.Model;
import io.kvasir.engine.backend.cpu.VectorCpuBackend;
import io.kvasir.engine.kv.BlockTable;
import io.kvasir.testing.Golden;
import java.util.function.UnaryOperator;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The golden references can tell a right model from a subtly wrong one: getting the RoPE layout,
 * the Llama-3 frequency factors or the QKV biases wrong moves the logits far past the 1e-3 tolerance.
 */
class ReferenceSensitivityTest {

    @ParameterizedTest(name = "{0}: {1}")
    @CsvSource({"llama-wide,flip rope layout", "llama3-rope-long,drop rope_freqs", "qwen2-mqa,flip rope layout", "qwen2-mqa,drop qkv bias"})
    void aWrongModelVariant_missesTheReference(String name, String change) {
        Golden.Reference ref = Golden.reference(name);
        String model = name.replace("-long", "");
        try (var backend = new VectorCpuBackend(2); Model m = Model.load(Golden.model(model), backend)) {
            ModelConfig c = m.transformer().config();
            UnaryOperator<ModelConfig> variant = switch (change) {
                case "flip rope layout" -> x -> withRope(x, new RopeConfig(
                        x.rope().layout() == RopeLayout.INTERLEAVED ? RopeLayout.HALF_SPLIT : RopeLayout.INTERLEAVED,
                        x.rope().dims(), x.rope().base(), x.rope().freqFactors(), x.rope().linearScale()));
                case "drop rope_freqs" -> x -> withRope(x, new RopeConfig(x.rope().layout(), x.rope().dims(), x.rope().base(), null, 1));
                case "drop qkv bias" -> x -> new ModelConfig(x.architecture(), x.dim(), x.numLayers(), x.numHeads(), x.numKvHeads(),
                        x.headDim(), x.ffnDim(), x.vocabSize(), x.contextLength(), x.rmsNormEps(), x.rope(), false, x.tiedEmbeddings(), x.mla(), null, x.moe(), 1);
                default -> throw new IllegalArgumentException(change);
            };
            var wrong = new LlamaModel(variant.apply(c), m.transformer().weights(), backend);
            var buf = wrong.newBuffers(64);
            int blocks = ref.prompt().length / 16 + 1;
            wrong.forward(ref.prompt(), 0, ref.prompt().length, new BlockTable(wrong.newKvPool(16, blocks)), buf);
            float diff = Golden.maxAbsDiff(buf.logits, ref.lastLogits());
            System.out.printf("%s with %s: max |logit diff| vs llama.cpp = %.2e%n", name, change, diff);
            assertTrue(diff > 1e-2, "the reference cannot see this change: " + diff);
        }
    }

    private static ModelConfig withRope(ModelConfig x, RopeConfig rope) {
        return new ModelConfig(x.architecture(), x.dim(), x.numLayers(), x.numHeads(), x.numKvHeads(), x.headDim(),
                x.ffnDim(), x.vocabSize(), x.contextLength(), x.rmsNormEps(), rope, x.qkvBias(), x.tiedEmbeddings(), x.mla(), null, x.moe(), 1);
    }
}
