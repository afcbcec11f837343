package io.kvasir.engine.model;

import io.kvasir.engine.backend.Backend;

/**
 * Activations of one forward pass over up to {@code maxTokens} tokens, allocated once per step
 * loop and reused for every chunk (no allocation per token). Shapes are row-major per token.
 */
public final class ForwardBuffers {
    final int maxTokens;
    final float[] x;       // (maxTokens, dim)       residual stream
    final float[] xb;      // (maxTokens, dim)       normed input of a sub-block
    final float[] xb2;     // (maxTokens, dim)       sub-block output before the residual add
    final float[] q;       // (maxTokens, numHeads·headDim)
    final float[] k;       // (maxTokens, numKvHeads·headDim)
    final float[] v;       // (maxTokens, numKvHeads·headDim)
    final float[] att;     // (maxTokens, numHeads·headDim)  attention output per head
    final float[] hb;      // (maxTokens, widest ffn) gate, then silu(gate)·up
    final float[] hb2;     // (maxTokens, widest ffn) up
    final float[] ropeCos; // (maxTokens, ropeDims/2)
    final float[] ropeSin; // (maxTokens, ropeDims/2)
    final CausalAttention attention;   // GQA models
    final ExpertFeedForward experts;   // MoE models, else null
    // MLA models (null otherwise)
    final float[] qa;        // (maxTokens, qLoraRank)       low-rank query input, or null
    final float[] kva;       // (maxTokens, kvLoraRank + qkRope) latent and rope key of each token
    final float[] qAbs;      // (maxTokens, numHeads, kvLoraRank + qkRope) queries folded into latent space
    final float[] latentOut; // (maxTokens, numHeads, kvLoraRank)
    final float[] perHeadIn; // (maxTokens, max(qkNope, kvLoraRank)) one head's slice of every token
    final float[] perHeadOut;// (maxTokens, max(kvLoraRank, vHead))
    final float[] mlaRow;    // (kvLoraRank) one widened weight row
    final LatentAttention latent;
    final Batch batch;     // the single-sequence path's chunk
    final int maxLogitRows;
    /** (maxLogitRows, vocab) logits of the tokens of the last step that asked for them, in batch order. */
    public final float[] logits;

    ForwardBuffers(ModelConfig c, int maxTokens, int maxLogitRows, Backend backend) {
        if (maxTokens <= 0 || maxLogitRows <= 0 || maxLogitRows > maxTokens) {
            throw new IllegalArgumentException("need 0 < maxLogitRows <= maxTokens, got %d and %d".formatted(maxLogitRows, maxTokens));
        }
        this.maxTokens = maxTokens;
        this.maxLogitRows = maxLogitRows;
        this.batch = new Batch(maxTokens);
        x = new float[maxTokens * c.dim()];
        xb = new float[maxTokens * c.dim()];
        xb2 = new float[maxTokens * c.dim()];
        q = new float[maxTokens * c.queryDim()];
        k = new float[maxTokens * c.kvDim()];
        v = new float[maxTokens * c.kvDim()];
        att = new float[maxTokens * Math.max(c.queryDim(), c.numHeads() * c.valueHeadDim())];
        hb = new float[maxTokens * c.widestFfn()];
        hb2 = new float[maxTokens * c.widestFfn()];
        experts = c.moe() == null ? null : new ExpertFeedForward(c, maxTokens, backend);
        ropeCos = new float[maxTokens * c.rope().dims() / 2];
        ropeSin = new float[maxTokens * c.rope().dims() / 2];
        MlaConfig m = c.mla();
        if (m == null) {
            attention = new CausalAttention(c, backend, q, att);
            qa = kva = qAbs = latentOut = perHeadIn = perHeadOut = mlaRow = null;
            latent = null;
        } else {
            attention = null;
            qa = m.qLoraRank() > 0 ? new float[maxTokens * m.qLoraRank()] : null;
            kva = new float[maxTokens * m.latentWidth()];
            qAbs = new float[maxTokens * c.numHeads() * m.latentWidth()];
            latentOut = new float[maxTokens * c.numHeads() * m.kvLoraRank()];
            perHeadIn = new float[maxTokens * Math.max(m.qkNopeDim(), m.kvLoraRank())];
            perHeadOut = new float[maxTokens * Math.max(m.kvLoraRank(), m.vHeadDim())];
            mlaRow = new float[m.kvLoraRank()];
            latent = new LatentAttention(c, backend, qAbs, latentOut);
        }
        logits = new float[maxLogitRows * c.vocabSize()];
    }

    public int maxTokens() {
        return maxTokens;
    }
}
