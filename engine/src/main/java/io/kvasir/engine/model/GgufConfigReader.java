package io.kvasir.engine.model;

import io.kvasir.engine.ModelFormatException;
import io.kvasir.engine.weights.GgufFile;
import io.kvasir.engine.weights.TensorInfo;
import java.util.Map;

/**
 * Reads a {@link ModelConfig} from the metadata keys llama.cpp writes for {@code llama}, {@code qwen2},
 * {@code qwen3} (its own head size, per-head q/k norms) and {@code deepseek2} (Multi-head Latent
 * Attention, dense FFN layers).
 */
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
        if (!java.util.Set.of("llama", "qwen2", "qwen3", "qwen3moe", "deepseek2").contains(arch)) {
            throw new ModelFormatException(file.path() + ": architecture \"" + arch
                    + "\" is not supported (llama, qwen2, qwen3, qwen3moe, deepseek2)");
        }
        return new GgufConfigReader(file, arch).read();
    }

    private ModelConfig read() {
        Map<String, TensorInfo> tensors = file.tensors();
        int dim = integer("embedding_length", null);
        int numHeads = integer("attention.head_count", null);
        MlaConfig mla = arch.equals("deepseek2") ? mla() : null;
        int headDim = mla != null ? mla.qkHeadDim() : integer("attention.key_length", numHeads > 0 ? dim / numHeads : 0);
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
        if (mla != null && "yarn".equals(file.metadata().get(arch + ".rope.scaling.type"))) {
            freqFactors = RopeConfig.yarnFreqFactors(ropeDims, base, number("rope.scaling.factor", 1.0),
                    integer("rope.scaling.original_context_length", null), number("rope.scaling.yarn_beta_fast", 32),
                    number("rope.scaling.yarn_beta_slow", 1));
        }
        RopeLayout layout = arch.startsWith("qwen") ? RopeLayout.HALF_SPLIT : RopeLayout.INTERLEAVED;
        try {
            return new ModelConfig(arch, dim,
                    integer("block_count", null),
                    numHeads,
                    mla != null ? 1 : integer("attention.head_count_kv", numHeads), // MLA: one shared latent
                    headDim,
                    integer("feed_forward_length", null),
                    integer("vocab_size", vocabFromTensor),
                    integer("context_length", null),
                    (float) number("attention.layer_norm_rms_epsilon", 1e-5),
                    new RopeConfig(layout, ropeDims, base, freqFactors, linearScale),
                    tensors.containsKey("blk.0.attn_q.bias"),
                    !tensors.containsKey("output.weight"), mla, windows(integer("block_count", null)), moe(),
                    integer("attention.cla_share_factor", 1));
        } catch (IllegalArgumentException e) {
            throw new ModelFormatException(file.path() + ": " + e.getMessage(), e);
        }
    }

    /**
     * Mixture of Experts, from {@code expert_count} (absent or 0: dense): Mixtral-style {@code llama}
     * experts as wide as {@code feed_forward_length}; {@code qwen3moe} and {@code deepseek2} experts of
     * {@code expert_feed_forward_length}, DeepSeek's with shared experts after leading dense layers
     * and its gating, normalization and scale keys (llama and qwen3moe always normalize).
     */
    private MoeConfig moe() {
        int experts = integer("expert_count", 0);
        if (experts == 0) {
            return null;
        }
        int used = integer("expert_used_count", null);
        try {
            return switch (arch) {
                case "llama" -> new MoeConfig(experts, used, integer("feed_forward_length", null), 0, 0, false, true, 0);
                case "qwen3moe" -> new MoeConfig(experts, used, integer("expert_feed_forward_length", null), 0, 0, false,
                        true, 0);
                case "deepseek2" -> {
                    int gating = integer("expert_gating_func", 1);
                    if (gating != 0 && gating != 1 && gating != 2) {
                        throw new ModelFormatException(file.path() + ": " + arch + ".expert_gating_func " + gating
                                + " is not softmax (1) or sigmoid (2)");
                    }
                    yield new MoeConfig(experts, used, integer("expert_feed_forward_length", null),
                            integer("expert_shared_count", 0), integer("leading_dense_block_count", 0), gating == 2,
                            Boolean.TRUE.equals(file.metadata().get(arch + ".expert_weights_norm")),
                            (float) number("expert_weights_scale", 0));
                }
                default -> throw new ModelFormatException(file.path() + ": " + arch + " with experts is not supported");
            };
        } catch (IllegalArgumentException e) {
            throw new ModelFormatException(file.path() + ": " + e.getMessage(), e);
        }
    }

    /** {@code <arch>.attention.sliding_window}, for every layer, when present. */
    private int[] windows(int layers) {
        int window = integer("attention.sliding_window", 0);
        if (window == 0) {
            return null;
        }
        int[] out = new int[layers];
        java.util.Arrays.fill(out, window);
        return out;
    }

    /**
     * MLA dimensions. Files from today's convert_hf_to_gguf.py carry {@code key_length_mla} /
     * {@code value_length_mla} and split K/V up-projections ({@code attn_k_b}, {@code attn_v_b});
     * older ones give the per-head sizes in {@code key_length} / {@code value_length} and keep the
     * joint {@code attn_kv_b}. Both run the same absorbed attention.
     */
    private MlaConfig mla() {
        String p = file.path() + ": ";
        boolean split = file.metadata().get(arch + ".attention.key_length_mla") != null;
        Object scaling = file.metadata().get(arch + ".rope.scaling.type");
        double scoreScale = 1;
        if ("yarn".equals(scaling)) {
            // llama.cpp's deepseek2 graph: rope magnitudes cancel out, the scores carry mscale² where
            // mscale = 1 + 0.1·mscale_all_dim·ln(factor) (the file stores 0.1·mscale_all_dim)
            double factor = number("rope.scaling.factor", 1.0);
            double mscaleAllDim = number("rope.scaling.yarn_log_multiplier", 0) / 0.1;
            if (mscaleAllDim == 0 || number("rope.scaling.yarn_ext_factor", 1) != 1
                    || number("rope.scaling.attn_factor", 1) != 1) {
                throw new ModelFormatException(p + "YaRN without yarn_log_multiplier, or with a yarn_ext_factor or "
                        + "attn_factor other than 1, is not supported for deepseek2");
            }
            double mscale = factor <= 1 ? 1 : 1 + 0.1 * mscaleAllDim * Math.log(factor);
            scoreScale = mscale * mscale;
        } else if (scaling != null && !"none".equals(scaling)) {
            throw new ModelFormatException(p + "rope scaling \"" + scaling + "\" is not supported for deepseek2 (yarn is)");
        }
        int ropeDims = integer("rope.dimension_count", null);
        int qkHead = integer(split ? "attention.key_length_mla" : "attention.key_length", null);
        int vHead = integer(split ? "attention.value_length_mla" : "attention.value_length", null);
        try {
            // llama.cpp's "lite" files (DeepSeek-V2-Lite) keep a q_lora_rank but have a plain attn_q: tensors decide
            int qLora = file.tensors().containsKey("blk.0.attn_q_a.weight") ? integer("attention.q_lora_rank", null) : 0;
            return new MlaConfig(qLora, integer("attention.kv_lora_rank", null),
                    qkHead - ropeDims, ropeDims, vHead, scoreScale);
        } catch (IllegalArgumentException e) {
            throw new ModelFormatException(p + e.getMessage(), e);
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
