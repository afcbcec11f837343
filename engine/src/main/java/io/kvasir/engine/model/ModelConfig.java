package io.kvasir.engine.model;

/**
 * Hyperparameters of a Llama-family model (Llama 2/3, Mistral, Qwen2), whatever file it came from.
 * Validated on construction, so a bad file fails at load time with the offending value named.
 *
 * @param architecture  e.g. {@code llama}, {@code qwen2} (GGUF names; HF architectures map onto them)
 * @param qkvBias       Qwen2: Q/K/V projections carry biases
 * @param tiedEmbeddings the output head reuses the token embedding matrix
 * @param mla           Multi-head Latent Attention dimensions (deepseek2), null for GQA models; with
 *                      MLA, {@code headDim} is the query/key size per head and {@code numKvHeads} is 1
 * @param layerWindows  sliding-window attention: per layer, how many positions a token sees (itself
 *                      included); 0 = all. Null when no layer has a window.
 * @param moe           Mixture-of-Experts feed-forwards, null for dense models
 * @param kvShareFactor cross-layer KV sharing (CLA): each run of this many layers attends to the K/V of
 *                      its first layer, which alone computes and caches them; 1 = every layer its own
 */
public record ModelConfig(
        String architecture,
        int dim,
        int numLayers,
        int numHeads,
        int numKvHeads,
        int headDim,
        int ffnDim,
        int vocabSize,
        int contextLength,
        float rmsNormEps,
        RopeConfig rope,
        boolean qkvBias,
        boolean tiedEmbeddings,
        MlaConfig mla,
        int[] layerWindows,
        MoeConfig moe,
        int kvShareFactor) {

    public ModelConfig {
        positive("dim", dim);
        positive("num_layers", numLayers);
        positive("num_heads", numHeads);
        positive("num_kv_heads", numKvHeads);
        positive("head_dim", headDim);
        positive("ffn_dim", ffnDim);
        positive("vocab_size", vocabSize);
        positive("context_length", contextLength);
        if (numHeads % numKvHeads != 0) {
            throw new IllegalArgumentException("num_heads " + numHeads + " is not a multiple of num_kv_heads " + numKvHeads);
        }
        if (rope.dims() > headDim) {
            throw new IllegalArgumentException("rope dims " + rope.dims() + " exceed head_dim " + headDim);
        }
        if (mla != null && (numKvHeads != 1 || headDim != mla.qkHeadDim() || rope.dims() != mla.qkRopeDim())) {
            throw new IllegalArgumentException("MLA needs 1 KV head, head_dim = qk_nope + qk_rope = " + mla.qkHeadDim()
                    + " and rope dims = qk_rope = " + mla.qkRopeDim() + "; got " + numKvHeads + ", " + headDim + ", "
                    + rope.dims());
        }
        if (layerWindows != null) {
            if (layerWindows.length != numLayers) {
                throw new IllegalArgumentException("sliding windows given for " + layerWindows.length + " layers, model has "
                        + numLayers);
            }
            for (int w : layerWindows) {
                if (w < 0) {
                    throw new IllegalArgumentException("sliding window must be >= 0, got " + w);
                }
            }
            layerWindows = layerWindows.clone();
        }
        if (moe != null && moe.leadingDense() > numLayers) {
            throw new IllegalArgumentException("leading_dense_block_count " + moe.leadingDense() + " exceeds the "
                    + numLayers + " layers");
        }
        if (kvShareFactor < 1 || kvShareFactor > numLayers) {
            throw new IllegalArgumentException("cla_share_factor must be in [1, " + numLayers + "] (the layer count), got "
                    + kvShareFactor);
        }
        if (kvShareFactor > 1 && mla != null) {
            throw new IllegalArgumentException("cross-layer KV sharing (cla_share_factor " + kvShareFactor
                    + ") is not supported with MLA");
        }
        if (!(rmsNormEps > 0)) {
            throw new IllegalArgumentException("rms_norm_eps must be > 0, got " + rmsNormEps);
        }
    }

    private static void positive(String name, int value) {
        if (value <= 0) {
            throw new IllegalArgumentException(name + " must be > 0, got " + value);
        }
    }

    /** Qwen3: each head's query and key are RMS-normed (weights of {@code headDim}) before RoPE. */
    public boolean qkNorm() {
        return architecture.equals("qwen3") || architecture.equals("qwen3moe");
    }

    /** Whether layer {@code layer}'s feed-forward is a mixture of experts. */
    public boolean moeLayer(int layer) {
        return moe != null && layer >= moe.leadingDense();
    }

    /** The widest feed-forward hidden layer of any layer (the buffers' size). */
    public int widestFfn() {
        return moe == null ? ffnDim : Math.max(ffnDim, moe.widestFfn());
    }

    public int queryDim() {
        return numHeads * headDim;
    }

    /** Positions a token of {@code layer} attends to (itself included); {@link Integer#MAX_VALUE} without a window. */
    public int window(int layer) {
        int w = layerWindows == null ? 0 : layerWindows[layer];
        return w == 0 ? Integer.MAX_VALUE : w;
    }

    /** The widest window over all layers: KV older than this is never read again (MAX_VALUE if any layer is global). */
    public int widestWindow() {
        int widest = 0;
        for (int l = 0; l < numLayers; l++) {
            widest = Math.max(widest, window(l));
        }
        return widest;
    }

    /** Every layer's window set to {@code window} (0 = none). */
    public ModelConfig withSlidingWindow(int window) {
        int[] windows = new int[numLayers];
        java.util.Arrays.fill(windows, window);
        return new ModelConfig(architecture, dim, numLayers, numHeads, numKvHeads, headDim, ffnDim, vocabSize,
                contextLength, rmsNormEps, rope, qkvBias, tiedEmbeddings, mla, window == 0 ? null : windows, moe,
                kvShareFactor);
    }

    /** Whether layer {@code layer} computes and caches K/V (under CLA only the first of each run does). */
    public boolean ownsKv(int layer) {
        return layer % kvShareFactor == 0;
    }

    /** The cache layer whose K/V layer {@code layer} attends to (and writes, when it owns them). */
    public int kvLayer(int layer) {
        return layer / kvShareFactor;
    }

    /** Layers of K/V a token caches: the layer count, or fewer under cross-layer sharing. */
    public int cachedLayers() {
        return (numLayers + kvShareFactor - 1) / kvShareFactor;
    }

    public int kvDim() {
        return numKvHeads * headDim;
    }

    /** Size of each head's attention output (the input of the output projection is numHeads times it). */
    public int valueHeadDim() {
        return mla == null ? headDim : mla.vHeadDim();
    }

    /** Floats one token caches per layer: K and V, or MLA's latent and rope key. */
    public int cachedFloatsPerLayer() {
        return mla == null ? 2 * kvDim() : mla.latentWidth();
    }

    /** Query heads per KV head: 1 for MHA, numHeads for MQA. */
    public int groupSize() {
        return numHeads / numKvHeads;
    }
}
