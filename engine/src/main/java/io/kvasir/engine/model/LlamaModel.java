package io.kvasir.engine.model;

import io.kvasir.engine.backend.Backend;
import io.kvasir.engine.kv.BlockTable;
import io.kvasir.engine.kv.KvBlockPool;

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

    LlamaWeights weights() {
        return weights;
    }

    public Backend backend() {
        return backend;
    }

    public ForwardBuffers newBuffers(int maxTokens) {
        return new ForwardBuffers(config, maxTokens, backend);
    }

    public KvBlockPool newKvPool(int blockSize, int maxBlocks) {
        return new KvBlockPool(config.numLayers(), config.kvDim(), blockSize, maxBlocks);
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
            if (tokens[i] < 0 || tokens[i] >= config.vocabSize()) {
                throw new IllegalArgumentException("token id %d (at index %d) is outside the vocabulary [0, %d)"
                        .formatted(tokens[i], i, config.vocabSize()));
            }
        }
        for (int chunk = from; chunk < to; chunk += buf.maxTokens) {
            forwardChunk(tokens, chunk, Math.min(buf.maxTokens, to - chunk), kv, buf);
        }
    }

    private void forwardChunk(int[] tokens, int off, int n, BlockTable kv, ForwardBuffers b) {
        final ModelConfig c = config;
        final int dim = c.dim();
        final int start = kv.numTokens();
        kv.reserve(start + n);
        for (int t = 0; t < n; t++) {
            backend.dequantizeRow(weights.tokenEmbedding(), tokens[off + t], b.x, t * dim);
        }
        prepareRope(start, n, b);
        for (int l = 0; l < c.numLayers(); l++) {
            LlamaWeights.Layer w = weights.layers().get(l);
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
            storeKv(kv, l, start, n, b);
            b.attention.run(kv, l, start, n);
            backend.matmul(w.wo(), b.att, b.xb2, n);
            backend.axpy(1f, b.xb2, 0, b.x, 0, n * dim);
            // feed-forward: x += w_down · (silu(w_gate · norm(x)) * (w_up · norm(x)))
            rmsNorm(b.x, w.ffnNorm(), b.xb, n);
            backend.matmul(w.wGate(), b.xb, b.hb, n);
            backend.matmul(w.wUp(), b.xb, b.hb2, n);
            swiGlu(b.hb, b.hb2, n * c.ffnDim());
            backend.matmul(w.wDown(), b.hb, b.xb2, n);
            backend.axpy(1f, b.xb2, 0, b.x, 0, n * dim);
        }
        kv.setNumTokens(start + n);
        // logits of the last token only: output · norm(x[n-1])
        System.arraycopy(b.x, (n - 1) * dim, b.xb2, 0, dim);
        rmsNorm(b.xb2, weights.outputNorm(), b.xb, 1);
        backend.matmul(weights.output(), b.xb, b.logits, 1);
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

    /** {@code gate[i] = silu(gate[i]) * up[i]}, silu(g) = g / (1 + e^-g). */
    private static void swiGlu(float[] gate, float[] up, int count) {
        for (int i = 0; i < count; i++) {
            float g = gate[i];
            gate[i] = g / (1f + (float) Math.exp(-g)) * up[i];
        }
    }

    private void prepareRope(int start, int n, ForwardBuffers b) {
        int half = ropeInvFreq.length;
        for (int t = 0; t < n; t++) {
            for (int i = 0; i < half; i++) {
                double theta = (start + t) * ropeInvFreq[i];
                b.ropeCos[t * half + i] = (float) Math.cos(theta);
                b.ropeSin[t * half + i] = (float) Math.sin(theta);
            }
        }
    }

    /** Rotates the first rope dims of every head of {@code n} tokens laid out (n, numHeads, headDim). */
    private void applyRope(float[] vec, int numHeads, int n, ForwardBuffers b) {
        int headDim = config.headDim(), half = ropeInvFreq.length;
        boolean interleaved = config.rope().layout() == RopeLayout.INTERLEAVED;
        for (int t = 0; t < n; t++) {
            for (int h = 0; h < numHeads; h++) {
                int base = (t * numHeads + h) * headDim;
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

    private void storeKv(BlockTable kv, int layer, int start, int n, ForwardBuffers b) {
        KvBlockPool pool = kv.pool();
        int kvDim = config.kvDim(), blockSize = pool.blockSize();
        for (int t = 0; t < n; t++) {
            int pos = start + t;
            float[] block = pool.data(kv.blockId(pos / blockSize));
            System.arraycopy(b.k, t * kvDim, block, pool.keyOffset(layer, pos % blockSize), kvDim);
            System.arraycopy(b.v, t * kvDim, block, pool.valueOffset(layer, pos % blockSize), kvDim);
        }
    }

}
