package io.kvasir.engine.model;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import io.kvasir.engine.ModelFormatException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;

/** Reads a {@link ModelConfig} from a Hugging Face {@code config.json}. */
final class HfConfigReader {
    private static final Set<String> LLAMA_LIKE = Set.of("LlamaForCausalLM", "MistralForCausalLM");
    private static final String QWEN2 = "Qwen2ForCausalLM";
    private static final String QWEN3 = "Qwen3ForCausalLM";
    private static final String QWEN3_MOE = "Qwen3MoeForCausalLM";
    private static final String MIXTRAL = "MixtralForCausalLM";
    private static final String DEEPSEEK_V2 = "DeepseekV2ForCausalLM";

    private final Path file;
    private final JsonObject json;

    private HfConfigReader(Path file, JsonObject json) {
        this.file = file;
        this.json = json;
    }

    /**
     * Sliding windows as transformers applies them: Mistral's {@code sliding_window} on every layer
     * (null or absent: none); Qwen2's only with {@code use_sliding_window}, on layers from
     * {@code max_window_layers} up.
     */
    private int[] windows(boolean qwen2) {
        JsonElement w = json.get("sliding_window");
        if (w == null || w.isJsonNull()) {
            return null;
        }
        int layers = integer("num_hidden_layers", null);
        int window = integer("sliding_window", null);
        int firstWindowed = 0;
        if (qwen2) {
            JsonElement use = json.get("use_sliding_window");
            if (use == null || use.isJsonNull() || !use.getAsBoolean()) {
                return null;
            }
            firstWindowed = integer("max_window_layers", 0);
        }
        int[] out = new int[layers];
        for (int l = firstWindowed; l < layers; l++) {
            out[l] = window;
        }
        return out;
    }

    /**
     * Cross-layer attention as Hunyuan's configs state it: {@code use_cla} with {@code cla_share_factor}
     * (the layers of each run share the first one's K/V); 1 without.
     */
    private int claShareFactor() {
        JsonElement use = json.get("use_cla");
        return use != null && !use.isJsonNull() && use.getAsBoolean() ? integer("cla_share_factor", null) : 1;
    }

    static ModelConfig read(Path configJson, boolean hasLmHead) {
        JsonObject json;
        try {
            json = JsonParser.parseString(Files.readString(configJson)).getAsJsonObject();
        } catch (IOException e) {
            throw new ModelFormatException(configJson + ": cannot read: " + e.getMessage(), e);
        } catch (RuntimeException e) {
            throw new ModelFormatException(configJson + ": not a JSON object: " + e.getMessage(), e);
        }
        return new HfConfigReader(configJson, json).read(hasLmHead);
    }

    private ModelConfig read(boolean hasLmHead) {
        var archs = json.getAsJsonArray("architectures");
        String architecture = archs == null || archs.isEmpty() ? null : archs.get(0).getAsString();
        boolean qwen2 = QWEN2.equals(architecture);
        boolean qwen3moe = QWEN3_MOE.equals(architecture);
        boolean qwen3 = QWEN3.equals(architecture) || qwen3moe;
        boolean mixtral = MIXTRAL.equals(architecture);
        if (DEEPSEEK_V2.equals(architecture)) {
            return readDeepseekV2(hasLmHead);
        }
        if (!qwen2 && !qwen3 && !mixtral && !LLAMA_LIKE.contains(architecture)) {
            throw new ModelFormatException(file + ": architectures " + archs + " is not supported (LlamaForCausalLM, "
                    + "MistralForCausalLM, MixtralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM, "
                    + "Qwen3MoeForCausalLM, DeepseekV2ForCausalLM)");
        }
        int dim = integer("hidden_size", null);
        int numHeads = integer("num_attention_heads", null);
        int headDim = integer("head_dim", numHeads > 0 ? dim / numHeads : 0);
        double base = number("rope_theta", 10000.0);
        float[] freqFactors = null;
        double linearScale = 1;
        JsonElement scalingElement = json.get("rope_scaling");
        if (scalingElement != null && scalingElement.isJsonObject()) {
            JsonObject s = scalingElement.getAsJsonObject();
            String type = s.has("rope_type") ? s.get("rope_type").getAsString() : s.has("type") ? s.get("type").getAsString() : "default";
            switch (type) {
                case "llama3" -> freqFactors = RopeConfig.llama3FreqFactors(headDim, base,
                        s.get("factor").getAsDouble(), s.get("low_freq_factor").getAsDouble(),
                        s.get("high_freq_factor").getAsDouble(), s.get("original_max_position_embeddings").getAsInt());
                case "linear" -> linearScale = s.get("factor").getAsDouble();
                case "default" -> { }
                default -> throw new ModelFormatException(file + ": rope_scaling type \"" + type + "\" is not supported (llama3, linear)");
            }
        }
        boolean tied = json.has("tie_word_embeddings") && json.get("tie_word_embeddings").getAsBoolean() || !hasLmHead;
        try {
            MoeConfig moe = mixtral ? new MoeConfig(integer("num_local_experts", null), integer("num_experts_per_tok", null),
                    integer("intermediate_size", null), 0, 0, false, true, 0)
                    : qwen3moe ? qwen3Moe() : null;
            return new ModelConfig(qwen2 ? "qwen2" : qwen3moe ? "qwen3moe" : qwen3 ? "qwen3" : "llama", dim,
                    integer("num_hidden_layers", null),
                    numHeads,
                    integer("num_key_value_heads", numHeads),
                    headDim,
                    integer("intermediate_size", null),
                    integer("vocab_size", null),
                    integer("max_position_embeddings", 4096),
                    (float) number("rms_norm_eps", 1e-6),
                    new RopeConfig(RopeLayout.HALF_SPLIT, headDim, base, freqFactors, linearScale),
                    qwen2 || qwen3 && json.has("attention_bias") && json.get("attention_bias").getAsBoolean(),
                    tied,
                    null,
                    windows(qwen2 || qwen3),
                    moe,
                    claShareFactor());
        } catch (IllegalArgumentException e) {
            throw new ModelFormatException(file + ": " + e.getMessage(), e);
        }
    }

    /** Qwen3-MoE's experts: every layer sparse (decoder_sparse_step 1, no mlp_only_layers), as llama.cpp runs it. */
    private MoeConfig qwen3Moe() {
        JsonElement dense = json.get("mlp_only_layers");
        if (integer("decoder_sparse_step", 1) != 1 || dense != null && dense.isJsonArray() && !dense.getAsJsonArray().isEmpty()) {
            throw new ModelFormatException(file + ": Qwen3-MoE with dense layers (decoder_sparse_step, mlp_only_layers) "
                    + "is not supported");
        }
        return new MoeConfig(integer("num_experts", null), integer("num_experts_per_tok", null),
                integer("moe_intermediate_size", null), 0, 0, false,
                !json.has("norm_topk_prob") || json.get("norm_topk_prob").getAsBoolean(), 0);
    }

    /**
     * DeepSeek-V2 (MLA) as its modeling code reads config.json. Its rotary embedding de-interleaves
     * q_pe / k_pe before rotating halves, i.e. it rotates interleaved pairs: the GGUF layout, which
     * is why the converter copies those rows unpermuted.
     */
    private ModelConfig readDeepseekV2(boolean hasLmHead) {
        int layers = integer("num_hidden_layers", null);
        int experts = integer("n_routed_experts", 0);
        MoeConfig moe = null;
        if (experts > 0 && integer("first_k_dense_replace", 0) < layers) {
            String scoring = json.has("scoring_func") ? json.get("scoring_func").getAsString() : "softmax";
            if (!scoring.equals("softmax") && !scoring.equals("sigmoid")) {
                throw new ModelFormatException(file + ": scoring_func \"" + scoring + "\" is not supported (softmax, sigmoid)");
            }
            // group-limited choice (topk_method group_limited_greedy, n_group, topk_group) is not modelled:
            // the top experts are chosen over all of them, as llama.cpp does
            moe = new MoeConfig(experts, integer("num_experts_per_tok", null), integer("moe_intermediate_size", null),
                    integer("n_shared_experts", 0), integer("first_k_dense_replace", 0), scoring.equals("sigmoid"),
                    json.has("norm_topk_prob") && json.get("norm_topk_prob").getAsBoolean(),
                    (float) number("routed_scaling_factor", 0));
        }
        int ropeDims = integer("qk_rope_head_dim", null);
        double base = number("rope_theta", 10000.0);
        float[] freqFactors = null;
        double scoreScale = 1;
        JsonElement scaling = json.get("rope_scaling");
        if (scaling != null && scaling.isJsonObject()) {
            // transformers' DeepseekV2YarnRotaryEmbedding: cos/sin scaled by mscale(mscale) / mscale(mscale_all_dim),
            // the softmax scale by mscale(mscale_all_dim)²
            JsonObject s = scaling.getAsJsonObject();
            String type = s.has("type") ? s.get("type").getAsString() : s.has("rope_type") ? s.get("rope_type").getAsString() : "";
            if (!type.equals("yarn")) {
                throw new ModelFormatException(file + ": rope_scaling type \"" + type + "\" is not supported for DeepseekV2 (yarn is)");
            }
            double factor = s.get("factor").getAsDouble();
            double mscale = s.has("mscale") ? s.get("mscale").getAsDouble() : 1;
            double mscaleAllDim = s.has("mscale_all_dim") ? s.get("mscale_all_dim").getAsDouble() : 0;
            if (yarnMscale(factor, mscale) != yarnMscale(factor, mscaleAllDim)) {
                throw new ModelFormatException(file + ": rope_scaling with mscale " + mscale + " != mscale_all_dim "
                        + mscaleAllDim + " (scaled rotary magnitudes) is not supported");
            }
            freqFactors = RopeConfig.yarnFreqFactors(ropeDims, base, factor,
                    s.get("original_max_position_embeddings").getAsInt(),
                    s.has("beta_fast") ? s.get("beta_fast").getAsDouble() : 32,
                    s.has("beta_slow") ? s.get("beta_slow").getAsDouble() : 1);
            scoreScale = yarnMscale(factor, mscaleAllDim) * yarnMscale(factor, mscaleAllDim);
        }
        boolean tied = json.has("tie_word_embeddings") && json.get("tie_word_embeddings").getAsBoolean() || !hasLmHead;
        try {
            MlaConfig mla = new MlaConfig(integer("q_lora_rank", 0), integer("kv_lora_rank", null),
                    integer("qk_nope_head_dim", null), ropeDims, integer("v_head_dim", null), scoreScale);
            return new ModelConfig("deepseek2", integer("hidden_size", null), layers,
                    integer("num_attention_heads", null), 1, mla.qkHeadDim(),
                    integer("intermediate_size", null),
                    integer("vocab_size", null),
                    integer("max_position_embeddings", 4096),
                    (float) number("rms_norm_eps", 1e-6),
                    new RopeConfig(RopeLayout.INTERLEAVED, ropeDims, base, freqFactors, 1),
                    false,
                    tied,
                    mla,
                    null,
                    moe,
                    1);
        } catch (IllegalArgumentException e) {
            throw new ModelFormatException(file + ": " + e.getMessage(), e);
        }
    }

    private static double yarnMscale(double factor, double mscale) {
        return factor <= 1 ? 1 : 0.1 * mscale * Math.log(factor) + 1;
    }

    private int integer(String key, Integer fallback) {
        JsonElement v = json.get(key);
        if (v == null || v.isJsonNull()) {
            if (fallback == null) {
                throw new ModelFormatException(file + ": \"" + key + "\" is missing");
            }
            return fallback;
        }
        try {
            return v.getAsInt();
        } catch (RuntimeException e) {
            throw new ModelFormatException(file + ": \"" + key + "\" is " + v + ", not an integer", e);
        }
    }

    private double number(String key, double fallback) {
        JsonElement v = json.get(key);
        if (v == null || v.isJsonNull()) {
            return fallback;
        }
        try {
            return v.getAsDouble();
        } catch (RuntimeException e) {
            throw new ModelFormatException(file + ": \"" + key + "\" is " + v + ", not a number", e);
        }
    }
}
