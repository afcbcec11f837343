package io.kvasir.engine.model;

import java.util.Arrays;

import io.kvasir.engine.backend.Backend;
import io.kvasir.engine.tensor.WeightMatrix;

/**
 * DeepSeek's Multi-head Latent Attention around its kernel ({@link LatentAttention}): queries
 * (one matrix, or the low-rank path), the latent and rope key of every token (the one row a token
 * caches), each head's query folded into latent space, attention over the rows, and each head's
 * value expanded from the attended latent. Per-head matrices multiply gathered per-head slices.
 */
final class MlaLayer {
    private final ModelConfig config;
    private final MlaConfig m;
    private final Backend backend;
    private final Rope rope;

    MlaLayer(ModelConfig config, Backend backend, Rope rope) {
        this.config = config;
        this.m = config.mla();
        this.backend = backend;
        this.rope = rope;
    }

    /** From the normed input {@code b.xb} to the heads' values in {@code b.att}, the tokens' rows cached. */
    void attend(Batch batch, int layer, LlamaWeights.Layer w, ForwardBuffers b) {
        LlamaWeights.Mla mw = w.mla();
        int n = batch.size, heads = config.numHeads(), qk = m.qkHeadDim(), nope = m.qkNopeDim(), ropeDim = m.qkRopeDim();
        int rank = m.kvLoraRank(), width = m.latentWidth(), vDim = m.vHeadDim();
        // q = wq·x, or wqB·norm(wqA·x)
        if (mw.wqA() != null) {
            backend.matmul(mw.wqA(), b.xb, b.qa, n);
            RmsNorm.apply(backend, config.rmsNormEps(), b.qa, m.qLoraRank(), m.qLoraRank(), mw.qANorm(), b.qa, n);
            backend.matmul(mw.wqB(), b.qa, b.q, n);
        } else {
            backend.matmul(w.wq(), b.xb, b.q, n);
        }
        // [c | k_pe] = wKvA·x, the latent normed, the rope key and the queries' rope parts rotated
        backend.matmul(mw.wKvA(), b.xb, b.kva, n);
        RmsNorm.apply(backend, config.rmsNormEps(), b.kva, width, rank, mw.kvANorm(), b.kva, n);
        rope.rotate(b.q, heads, qk, nope, n, b);
        rope.rotate(b.kva, 1, width, rank, n, b);
        for (int t = 0; t < n; t++) {
            batch.tables[t].writeRow(layer, batch.positions[t], b.kva, t * width);
        }
        for (int h = 0; h < heads; h++) {
            // q_lat = W_UK^T · q_nope for head h of every token; the rope part rides along unchanged
            for (int t = 0; t < n; t++) {
                System.arraycopy(b.q, (t * heads + h) * qk, b.perHeadIn, t * nope, nope);
            }
            if (mw.kB() != null) {
                backend.matmul(mw.kB().get(h), b.perHeadIn, b.perHeadOut, n);
            } else {
                multiplyTransposed(mw.kNope().get(h), b.perHeadIn, b.perHeadOut, n, b.mlaRow);
            }
            for (int t = 0; t < n; t++) {
                int dst = (t * heads + h) * width;
                System.arraycopy(b.perHeadOut, t * rank, b.qAbs, dst, rank);
                System.arraycopy(b.q, (t * heads + h) * qk + nope, b.qAbs, dst + rank, ropeDim);
            }
        }
        b.latent.run(batch, layer);
        for (int h = 0; h < heads; h++) {
            // value of head h = W_UV · (attended latent)
            for (int t = 0; t < n; t++) {
                System.arraycopy(b.latentOut, (t * heads + h) * rank, b.perHeadIn, t * rank, rank);
            }
            backend.matmul(mw.vB().get(h), b.perHeadIn, b.perHeadOut, n);
            for (int t = 0; t < n; t++) {
                System.arraycopy(b.perHeadOut, t * vDim, b.att, (t * heads + h) * vDim, vDim);
            }
        }
    }

    /**
     * {@code out[t] = Wᵀ·in[t]} for a (k, m) matrix W stored row-major: each row of W is widened once
     * and added into every token's output, scaled by that token's input. Used where a checkpoint
     * stores W_UK rather than its transpose (HF kv_b_proj): no transposed copy is ever made.
     */
    private void multiplyTransposed(WeightMatrix w, float[] in, float[] out, int n, float[] row) {
        int k = w.rows(), cols = w.cols();
        Arrays.fill(out, 0, n * cols, 0f);
        for (int j = 0; j < k; j++) {
            backend.dequantizeRow(w, j, row, 0);
            for (int t = 0; t < n; t++) {
                backend.axpy(in[t * k + j], row, 0, out, t * cols, cols);
            }
        }
    }
}
