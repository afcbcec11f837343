package io.kvasir.engine.model;

import io.kvasir.engine.ModelFormatException;
import io.kvasir.engine.weights.GgufFile;
import io.kvasir.engine.weights.TensorInfo;
import java.util.Map;

/** Reads a {@link ModelConfig} from the metadata keys llama.cpp writes for {@code llama} and {@code qwen2}. */
final class GgufConfigReader {
    private final GgufFile file;
    private final String arch;

    private GgufConfigReader(GgufFile file, String arch) {
        this.file = file;
        this.arch = arch;
    }

    static ModelConfig read(GgufFile file) {
        Object a = file.metadata().get("general.architecture");
        if (!(a instanceof String arch)) {
            throw new ModelFormatException(file.path() + ": metadata general.architecture is missing");
        }
        if (!arch.equals("llama") && !arch.equals("qwen2")) {
            throw new ModelFormatException(file.path() + ": architecture \"" + arch + "\" is not supported (llama, qwen2)");
        }
        return new GgufConfigReader(file, arch).read();
    }

    private ModelConfig read() {
        Map<String, TensorInfo> tensors = file.tensors();
        int dim = integer("embedding_length", null);
        int numHeads = integer("attention.head_count", null);
        int headDim = integer("attention.key_length", numHeads > 0 ? dim / numHeads : 0);
        int ropeDims = integer("rope.dimension_count", headDim);
        double base = number("rope.freq_base", 10000.0);
        TensorInfo embedding = tensors.get("token_embd.weight");
        Integer vocabFromTensor = embedding == null ? null : (int) embedding.shape()[0];
        float[] freqFactors = null;
        TensorInfo ropeFreqs = tensors.get("rope_freqs.weight");
        if (ropeFreqs != null) {
            var lookup = new LlamaWeights.Lookup(tensors, file.path().toString());
            freqFactors = lookup.vector("rope_freqs.weight", ropeDims / 2);
        }
        double linearScale = 1;
        if ("linear".equals(file.metadata().get(arch + ".rope.scaling.type"))) {
            linearScale = number("rope.scaling.factor", 1.0);
        }
        RopeLayout layout = arch.equals("qwen2") ? RopeLayout.HALF_SPLIT : RopeLayout.INTERLEAVED;
        try {
            return new ModelConfig(arch, dim,
                    integer("block_count", null),
                    numHeads,
                    integer("attention.head_count_kv", numHeads),
                    headDim,
                    integer("feed_forward_length", null),
                    integer("vocab_size", vocabFromTensor),
                    integer("context_length", null),
                    (float) number("attention.layer_norm_rms_epsilon", 1e-5),
                    new RopeConfig(layout, ropeDims, base, freqFactors, linearScale),
                    tensors.containsKey("blk.0.attn_q.bias"),
                    !tensors.containsKey("output.weight"));
        } catch (IllegalArgumentException e) {
            throw new ModelFormatException(file.path() + ": " + e.getMessage(), e);
        }
    }

    private int integer(String key, Integer fallback) {
        Object v = file.metadata().get(arch + "." + key);
        if (v == null) {
            if (fallback == null) {
                throw new ModelFormatException(file.path() + ": metadata " + arch + "." + key + " is missing");
            }
            return fallback;
        }
        if (!(v instanceof Number n)) {
            throw new ModelFormatException(file.path() + ": metadata " + arch + "." + key + " is " + v + ", not a number");
        }
        long value = n.longValue();
        if (value < 0 || value > Integer.MAX_VALUE) {
            throw new ModelFormatException(file.path() + ": metadata " + arch + "." + key + " = " + value + " is out of range");
        }
        return (int) value;
    }

    private double number(String key, double fallback) {
        Object v = file.metadata().get(arch + "." + key);
        if (v == null) {
            return fallback;
        }
        if (!(v instanceof Number n)) {
            throw new ModelFormatException(file.path() + ": metadata " + arch + "." + key + " is " + v + ", not a number");
        }
        return n.doubleValue();
    }
}
