package io.kvasir.engine.model;

/**
 * Multi-head Latent Attention (DeepSeek-V2/V3) dimensions. Each token caches, per layer, only the
 * normalised latent {@code c} ({@code kvLoraRank}) and one roped key {@code k_pe} shared by every
 * head ({@code qkRopeDim}); each head's key is {@code [W_UK·c | k_pe]} and its value {@code W_UV·c}.
 *
 * @param qLoraRank  0 when queries come from one matrix; otherwise the rank of the low-rank path
 *                   (q_a, RMSNorm, q_b)
 * @param scoreScale multiplies the attention scores' usual {@code 1/sqrt(qk head dim)}: 1, or with
 *                   YaRN {@code (1 + 0.1·mscale_all_dim·ln factor)²} (DeepSeek-V2's softmax scale)
 */
public record MlaConfig(int qLoraRank, int kvLoraRank, int qkNopeDim, int qkRopeDim, int vHeadDim, double scoreScale) {
    public MlaConfig(int qLoraRank, int kvLoraRank, int qkNopeDim, int qkRopeDim, int vHeadDim) {
        this(qLoraRank, kvLoraRank, qkNopeDim, qkRopeDim, vHeadDim, 1.0);
    }

    public MlaConfig {
        if (!(scoreScale > 0)) {
            throw new IllegalArgumentException("MLA score scale must be > 0, got " + scoreScale);
        }
        if (qLoraRank < 0) {
            throw new IllegalArgumentException("q_lora_rank must be >= 0, got " + qLoraRank);
        }
        for (int v : new int[] {kvLoraRank, qkNopeDim, qkRopeDim, vHeadDim}) {
            if (v <= 0) {
                throw new IllegalArgumentException("MLA dimensions must be > 0: kv_lora_rank=" + kvLoraRank
                        + " qk_nope=" + qkNopeDim + " qk_rope=" + qkRopeDim + " v_head=" + vHeadDim);
            }
        }
    }

    /** Floats cached per token and layer: latent then rope key. */
    public int latentWidth() {
        return kvLoraRank + qkRopeDim;
    }

    /** Query (and key) size per head: nope part then rope part. */
    public int qkHeadDim() {
        return qkNopeDim + qkRopeDim;
    }
}
