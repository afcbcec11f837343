package io.kvasir.engine.model;

/**
 * Mixture-of-Experts feed-forward layers, as llama.cpp's {@code build_moe_ffn} runs them: per token
 * the router's logits become probabilities (softmax, or DeepSeek-V3's sigmoid), the {@code used}
 * most probable experts are chosen (by probability plus {@code selectionBias} where the file has
 * one), their probabilities are the weights (divided by their sum when {@code normalize}, times
 * {@code scale} unless it is 0 or 1), and the output is the weighted sum of those experts'
 * SwiGLU feed-forwards, plus a shared SwiGLU of {@code sharedExperts × expertFfnDim} where there is one.
 *
 * @param experts       expert_count
 * @param used          expert_used_count: experts per token
 * @param expertFfnDim  one expert's hidden width
 * @param sharedExperts experts every token runs (DeepSeek), 0 if none
 * @param leadingDense  layers before this one are dense (DeepSeek's leading_dense_block_count)
 * @param sigmoid       sigmoid gating instead of softmax
 * @param normalize     weights divided by their sum
 * @param scale         weights multiplied by it (0 or 1: not at all)
 */
public record MoeConfig(int experts, int used, int expertFfnDim, int sharedExperts, int leadingDense, boolean sigmoid,
        boolean normalize, float scale) {
    public MoeConfig {
        if (experts <= 0 || used <= 0 || used > experts) {
            throw new IllegalArgumentException("expert_used_count " + used + " must be 1 to expert_count " + experts);
        }
        if (expertFfnDim <= 0 || sharedExperts < 0 || leadingDense < 0) {
            throw new IllegalArgumentException("expert width " + expertFfnDim + ", shared experts " + sharedExperts
                    + " and leading dense layers " + leadingDense + " must be positive, ≥ 0 and ≥ 0");
        }
    }

    /** The widest feed-forward a MoE layer runs: one expert, or the shared experts together. */
    public int widestFfn() {
        return expertFfnDim * Math.max(1, sharedExperts);
    }
}
