package io.kvasir.engine.model;

import io.kvasir.engine.backend.Backend;
import io.kvasir.engine.kv.BlockTable;
import io.kvasir.engine.kv.KvBlockPool;
import io.kvasir.engine.tensor.WeightMatrix;

/**
 * The Llama-family transformer (Llama 2/3, Mistral, Qwen2): pre-RMSNorm blocks with GQA attention
 * (RoPE, optional QKV bias) and a SwiGLU FFN. Immutable and shared; per-run state lives in
 * {@link ForwardBuffers} and the sequence's {@link BlockTable}.
 *
 * <p>Every chunk writes its K/V into the sequence's blocks first and then attends through the
 * block table, so prefill, decode and a prefix fetched from elsewhere all take the same path.
 */
public final class LlamaModel {
    private final ModelConfig config;
    private final LlamaWeights weights;
    private final Backend backend;
    private final double[] ropeInvFreq; // (ropeDims/2) angle per position of each rotated pair

    public LlamaModel(ModelConfig config, LlamaWeights weights, Backend backend) {
        this.config = config;
        this.weights = weights;
        this.backend = backend;
        RopeConfig rope = config.rope();
        ropeInvFreq = new double[rope.dims() / 2];
        for (int i = 0; i < ropeInvFreq.length; i++) {
            double f = Math.pow(rope.base(), -2.0 * i / rope.dims()) / rope.linearScale();
            ropeInvFreq[i] = rope.freqFactors() == null ? f : f / rope.freqFactors()[i];
        }
    }

    public ModelConfig config() {
        return config;
    }

    public LlamaWeights weights() {
        return weights;
    }

    /** Every weight matrix, in a fixed order (for fingerprints). */
    public void forEachWeight(io.kvasir.engine.ModelFingerprint.WeightVisitor visitor) {
        visitor.visit(weights.tokenEmbedding());
        if (weights.output() != weights.tokenEmbedding()) {
            visitor.visit(weights.output());
        }
        for (LlamaWeights.Layer l : weights.layers()) {
            for (WeightMatrix w : new WeightMatrix[] {l.wq(), l.wk(), l.wv(), l.wo(), l.wGate(), l.wUp(), l.wDown()}) {
                if (w != null) visitor.visit(w);
            }
            if (l.mla() != null) {
                LlamaWeights.Mla m = l.mla();
                for (WeightMatrix w : new WeightMatrix[] {m.wqA(), m.wqB(), m.wKvA()}) {
                    if (w != null) visitor.visit(w);
                }
                for (var list : java.util.Arrays.asList(m.kB(), m.kNope(), m.vB())) {
                    if (list != null) list.forEach(visitor::visit);
                }
            }
        }
    }

    /** Buffers for steps of up to {@code maxTokens} tokens, logits for one of them. */
    public ForwardBuffers newBuffers(int maxTokens) {
        return new ForwardBuffers(config, maxTokens, 1, backend);
    }

    /** Buffers for steps of up to {@code maxTokens} tokens, logits for up to {@code maxLogitRows}. */
    public ForwardBuffers newBuffers(int maxTokens, int maxLogitRows) {
        return new ForwardBuffers(config, maxTokens, maxLogitRows, backend);
    }

    public KvBlockPool newKvPool(int blockSize, int maxBlocks) {
        return config.mla() == null ? new KvBlockPool(config.numLayers(), config.kvDim(), blockSize, maxBlocks)
                : KvBlockPool.latent(config.numLayers(), config.mla().latentWidth(), blockSize, maxBlocks);
    }

    /**
     * Appends {@code tokens[from, to)} to the sequence {@code kv} (in chunks of at most
     * {@code buf.maxTokens()}) and leaves the logits of the last one in {@code buf.logits}.
     *
     * @throws IllegalArgumentException a token id outside the vocabulary, or the context overflows
     */
    public void forward(int[] tokens, int from, int to, BlockTable kv, ForwardBuffers buf) {
        int start = kv.numTokens();
        if (start + (to - from) > config.contextLength()) {
            throw new IllegalArgumentException("sequence of %d tokens exceeds the model's context length %d"
                    .formatted(start + (to - from), config.contextLength()));
        }
        for (int i = from; i < to; i++) {
            checkToken(tokens[i], i);
        }
        Batch batch = buf.batch;
        for (int chunk = from; chunk < to; chunk += buf.maxTokens) {
            int end = Math.min(to, chunk + buf.maxTokens);
            batch.clear();
            for (int i = chunk; i < end; i++) {
                batch.add(tokens[i], kv.numTokens() + i - chunk, kv, i == to - 1);
            }
            forward(batch, buf);
        }
        batch.clear();
    }

    /**
     * One forward step over {@code batch}: writes every token's K/V into its sequence's blocks,
     * and the logits of the tokens that want them into rows of {@code buf.logits}.
     *
     * @throws IllegalArgumentException a token id outside the vocabulary or a position past the context
     */
    public void forward(Batch batch, ForwardBuffers b) {
        final ModelConfig c = config;
        final int n = batch.size, dim = c.dim();
        if (n > b.maxTokens || batch.numLogits > b.maxLogitRows) {
            throw new IllegalArgumentException("batch of %d tokens (%d with logits) exceeds the buffers (%d, %d)"
                    .formatted(n, batch.numLogits, b.maxTokens, b.maxLogitRows));
        }
        for (int t = 0; t < n; t++) {
            checkToken(batch.tokens[t], t);
            int position = batch.positions[t];
            if (position < 0 || position >= c.contextLength()) {
                throw new IllegalArgumentException("position %d is outside the model's context length %d".formatted(position, c.contextLength()));
            }
        }
        for (int t = 0; t < n; t++) {
            batch.tables[t].reserve(batch.positions[t] + 1);
            backend.dequantizeRow(weights.tokenEmbedding(), batch.tokens[t], b.x, t * dim);
        }
        prepareRope(batch, b);
        for (int l = 0; l < c.numLayers(); l++) {
            LlamaWeights.Layer w = weights.layers().get(l);
            if (w.mla() != null) {
                rmsNorm(b.x, w.attnNorm(), b.xb, n);
                latentAttention(batch, l, w, b);
                backend.matmul(w.wo(), b.att, b.xb2, n);
                backend.axpy(1f, b.xb2, 0, b.x, 0, n * dim);
                feedForward(w, b, n);
                continue;
            }
            // attention: x += wo · attn(rope(wq·norm(x) + bq), rope(wk·norm(x) + bk), wv·norm(x) + bv)
            rmsNorm(b.x, w.attnNorm(), b.xb, n);
            backend.matmul(w.wq(), b.xb, b.q, n);
            backend.matmul(w.wk(), b.xb, b.k, n);
            backend.matmul(w.wv(), b.xb, b.v, n);
            if (c.qkvBias()) {
                addBias(b.q, w.bq(), n);
                addBias(b.k, w.bk(), n);
                addBias(b.v, w.bv(), n);
            }
            applyRope(b.q, c.numHeads(), n, b);
            applyRope(b.k, c.numKvHeads(), n, b);
            storeKv(batch, l, b);
            b.attention.run(batch, l);
            backend.matmul(w.wo(), b.att, b.xb2, n);
            backend.axpy(1f, b.xb2, 0, b.x, 0, n * dim);
            feedForward(w, b, n);
        }
        int widestWindow = c.widestWindow();
        for (int t = 0; t < n; t++) {
            BlockTable table = batch.tables[t];
            table.setNumTokens(Math.max(table.numTokens(), batch.positions[t] + 1));
            if (widestWindow != Integer.MAX_VALUE) {
                // the next token (at numTokens) sees back to numTokens - window + 1: older blocks go back to the pool
                table.releaseBefore(table.numTokens() - widestWindow + 1);
            }
        }
        // logits only where asked: output · norm(x[t])
        int rows = batch.numLogits;
        for (int r = 0; r < rows; r++) {
            System.arraycopy(b.x, batch.logitTokens[r] * dim, b.xb2, r * dim, dim);
        }
        if (rows > 0) {
            rmsNorm(b.xb2, weights.outputNorm(), b.xb, rows);
            backend.matmul(weights.output(), b.xb, b.logits, rows);
        }
    }

    /** x += w_down · (silu(w_gate · norm(x)) * (w_up · norm(x))) */
    private void feedForward(LlamaWeights.Layer w, ForwardBuffers b, int n) {
        rmsNorm(b.x, w.ffnNorm(), b.xb, n);
        backend.feedForward(w.wGate(), w.wUp(), w.wDown(), b.xb, b.hb, b.hb2, b.xb2, n);
        backend.axpy(1f, b.xb2, 0, b.x, 0, n * config.dim());
    }

    /**
     * MLA, from the normed input {@code b.xb} to the heads' values in {@code b.att}: queries (one
     * matrix or the low-rank path), the latent and rope key of every token (cached, one row each),
     * queries folded into latent space per head, attention over the rows, values expanded per head.
     */
    private void latentAttention(Batch batch, int layer, LlamaWeights.Layer w, ForwardBuffers b) {
        MlaConfig m = config.mla();
        LlamaWeights.Mla mw = w.mla();
        int n = batch.size, heads = config.numHeads(), qk = m.qkHeadDim(), nope = m.qkNopeDim(), rope = m.qkRopeDim();
        int rank = m.kvLoraRank(), width = m.latentWidth(), vDim = m.vHeadDim();
        if (mw.wqA() != null) {
            backend.matmul(mw.wqA(), b.xb, b.qa, n);
            rmsNormRows(b.qa, m.qLoraRank(), m.qLoraRank(), mw.qANorm(), n);
            backend.matmul(mw.wqB(), b.qa, b.q, n);
        } else {
            backend.matmul(w.wq(), b.xb, b.q, n);
        }
        backend.matmul(mw.wKvA(), b.xb, b.kva, n);
        rmsNormRows(b.kva, width, rank, mw.kvANorm(), n);
        rope(b.q, heads, qk, nope, n, b);
        rope(b.kva, 1, width, rank, n, b);
        for (int t = 0; t < n; t++) {
            KvBlockPool pool = batch.tables[t].pool();
            int pos = batch.positions[t], blockSize = pool.blockSize();
            float[] block = pool.data(batch.tables[t].blockId(pos / blockSize));
            System.arraycopy(b.kva, t * width, block, pool.rowOffset(layer, pos % blockSize), width);
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
                System.arraycopy(b.q, (t * heads + h) * qk + nope, b.qAbs, dst + rank, rope);
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
        int k = w.rows(), m = w.cols();
        java.util.Arrays.fill(out, 0, n * m, 0f);
        for (int j = 0; j < k; j++) {
            backend.dequantizeRow(w, j, row, 0);
            for (int t = 0; t < n; t++) {
                backend.axpy(in[t * k + j], row, 0, out, t * m, m);
            }
        }
    }

    /** In place: the first {@code len} floats of each of {@code n} rows (stride {@code stride}) RMS-normed and scaled. */
    private void rmsNormRows(float[] x, int stride, int len, float[] weight, int n) {
        for (int t = 0; t < n; t++) {
            int o = t * stride;
            float sumSq = backend.dot(x, o, x, o, len);
            float scale = (float) (1.0 / Math.sqrt(sumSq / len + config.rmsNormEps()));
            for (int i = 0; i < len; i++) {
                x[o + i] = x[o + i] * scale * weight[i];
            }
        }
    }

    private void checkToken(int token, int index) {
        if (token < 0 || token >= config.vocabSize()) {
            throw new IllegalArgumentException("token id %d (at index %d) is outside the vocabulary [0, %d)"
                    .formatted(token, index, config.vocabSize()));
        }
    }

    /** {@code out[t] = x[t] / sqrt(mean(x[t]²) + eps) * weight}, per token. */
    private void rmsNorm(float[] x, float[] weight, float[] out, int n) {
        int dim = config.dim();
        for (int t = 0; t < n; t++) {
            int o = t * dim;
            float sumSq = backend.dot(x, o, x, o, dim);
            float scale = (float) (1.0 / Math.sqrt(sumSq / dim + config.rmsNormEps()));
            for (int i = 0; i < dim; i++) {
                out[o + i] = x[o + i] * scale * weight[i];
            }
        }
    }

    private static void addBias(float[] y, float[] bias, int n) {
        for (int t = 0; t < n; t++) {
            int o = t * bias.length;
            for (int i = 0; i < bias.length; i++) {
                y[o + i] += bias[i];
            }
        }
    }

    private void prepareRope(Batch batch, ForwardBuffers b) {
        int half = ropeInvFreq.length;
        for (int t = 0; t < batch.size; t++) {
            for (int i = 0; i < half; i++) {
                double theta = batch.positions[t] * ropeInvFreq[i];
                b.ropeCos[t * half + i] = (float) Math.cos(theta);
                b.ropeSin[t * half + i] = (float) Math.sin(theta);
            }
        }
    }

    /** Rotates the first rope dims of every head of {@code n} tokens laid out (n, numHeads, headDim). */
    private void applyRope(float[] vec, int numHeads, int n, ForwardBuffers b) {
        rope(vec, numHeads, config.headDim(), 0, n, b);
    }

    /** Rotates rope dims starting at {@code offset} of each of {@code count} vectors (stride {@code stride}) per token. */
    private void rope(float[] vec, int count, int stride, int offset, int n, ForwardBuffers b) {
        int half = ropeInvFreq.length;
        boolean interleaved = config.rope().layout() == RopeLayout.INTERLEAVED;
        for (int t = 0; t < n; t++) {
            for (int h = 0; h < count; h++) {
                int base = (t * count + h) * stride + offset;
                for (int i = 0; i < half; i++) {
                    int i0 = interleaved ? base + 2 * i : base + i;
                    int i1 = interleaved ? i0 + 1 : i0 + half;
                    float cos = b.ropeCos[t * half + i], sin = b.ropeSin[t * half + i];
                    float x0 = vec[i0], x1 = vec[i1];
                    vec[i0] = x0 * cos - x1 * sin;
                    vec[i1] = x0 * sin + x1 * cos;
                }
            }
        }
    }

    private void storeKv(Batch batch, int layer, ForwardBuffers b) {
        int kvDim = config.kvDim();
        for (int t = 0; t < batch.size; t++) {
            KvBlockPool pool = batch.tables[t].pool();
            int pos = batch.positions[t], blockSize = pool.blockSize();
            float[] block = pool.data(batch.tables[t].blockId(pos / blockSize));
            int slot = pos % blockSize, keys = pool.keyOffset(layer, 0) + slot;
            for (int d = 0; d < kvDim; d++) {
                block[keys + d * blockSize] = b.k[t * kvDim + d];
            }
            System.arraycopy(b.v, t * kvDim, block, pool.valueOffset(layer, slot), kvDim);
        }
    }

}
