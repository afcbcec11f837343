package io.kvasir.engine.model;

import io.kvasir.engine.backend.Backend;
import io.kvasir.engine.kv.BlockTable;
import io.kvasir.engine.kv.KvBlockPool;
import io.kvasir.engine.kv.KvCacheType;

/**
 * The Llama-family transformer (Llama 2/3, Mistral, Qwen2, DeepSeek-V2's MLA): pre-RMSNorm blocks,
 * attention then a SwiGLU FFN, each added back into the residual stream. Immutable and shared;
 * per-run state lives in {@link ForwardBuffers} and the sequences' {@link BlockTable}s.
 *
 * <p>Where the families differ is visible in {@link #forward(Batch, ForwardBuffers)}: grouped-query
 * attention (MHA and MQA are its cases) with Qwen2's q/k/v biases and a sliding window per layer,
 * or MLA's latent attention ({@link MlaLayer}). Every chunk writes its K/V into the sequence's
 * blocks first and then attends through the block table, so prefill, decode and a prefix fetched
 * from elsewhere all take the same path.
 */
public final class LlamaModel {
    private final ModelConfig config;
    private final LlamaWeights weights;
    private final Backend backend;
    private final Rope rope;
    private final MlaLayer mla; // null without MLA

    public LlamaModel(ModelConfig config, LlamaWeights weights, Backend backend) {
        this.config = config;
        this.weights = weights;
        this.backend = backend;
        this.rope = new Rope(config.rope());
        this.mla = config.mla() == null ? null : new MlaLayer(config, backend, rope);
    }

    public ModelConfig config() {
        return config;
    }

    public LlamaWeights weights() {
        return weights;
    }

    /** Buffers for steps of up to {@code maxTokens} tokens, logits for one of them. */
    public ForwardBuffers newBuffers(int maxTokens) {
        return new ForwardBuffers(config, maxTokens, 1, backend);
    }

    /** Buffers for steps of up to {@code maxTokens} tokens, logits for up to {@code maxLogitRows}. */
    public ForwardBuffers newBuffers(int maxTokens, int maxLogitRows) {
        return new ForwardBuffers(config, maxTokens, maxLogitRows, backend);
    }

    /** An f32 pool: the engine's own precision (the exactness suites run on it). */
    public KvBlockPool newKvPool(int blockSize, int maxBlocks) {
        return newKvPool(blockSize, maxBlocks, KvCacheType.F32);
    }

    public KvBlockPool newKvPool(int blockSize, int maxBlocks, KvCacheType type) {
        return config.mla() == null
                ? new KvBlockPool(config.cachedLayers(), config.numKvHeads(), config.headDim(), blockSize, maxBlocks, type)
                : KvBlockPool.latent(config.numLayers(), config.mla().kvLoraRank(), config.mla().qkRopeDim(), blockSize,
                        maxBlocks, type);
    }

    /** The KV cache type {@code id} names for this model ({@code auto}: see {@link KvCacheType#parse}). */
    public KvCacheType kvCacheType(String id) {
        return KvCacheType.parse(id, weights.layers().get(0).wo().dtype());
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
        rope.prepare(batch, b);
        for (int l = 0; l < c.numLayers(); l++) {
            LlamaWeights.Layer w = weights.layers().get(l);
            for (int t = 0; t < n; t++) {
                batch.tables[t].awaitLayer(c.kvLayer(l)); // a prefix still arriving: this layer of it is in place
            }
            // x += wo · attention(norm(x))
            rmsNorm(b.x, w.attnNorm(), b.xb, n);
            if (mla == null) {
                groupedQueryAttention(batch, l, w, b);
            } else {
                mla.attend(batch, l, w, b);
            }
            backend.matmul(w.wo(), b.att, b.xb2, n);
            backend.axpy(1f, b.xb2, 0, b.x, 0, n * dim);
            // x += w_down · (silu(w_gate · norm(x)) * (w_up · norm(x)))
            rmsNorm(b.x, w.ffnNorm(), b.xb, n);
            if (w.moe() != null) {
                b.experts.apply(w.moe(), b.xb, b.hb, b.hb2, b.xb2, n);
            } else {
                backend.feedForward(w.wGate(), w.wUp(), w.wDown(), b.xb, b.hb, b.hb2, b.xb2, n);
            }
            backend.axpy(1f, b.xb2, 0, b.x, 0, n * dim);
        }
        for (int t = 0; t < n; t++) {
            batch.tables[t].written(batch.positions[t], c.widestWindow());
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

    private void checkToken(int token, int index) {
        if (token < 0 || token >= config.vocabSize()) {
            throw new IllegalArgumentException("token id %d (at index %d) is outside the vocabulary [0, %d)"
                    .formatted(token, index, config.vocabSize()));
        }
    }

    /** {@code out[t] = x[t] / sqrt(mean(x[t]²) + eps) * weight}, per token. */
    private void rmsNorm(float[] x, float[] weight, float[] out, int n) {
        RmsNorm.apply(backend, config.rmsNormEps(), x, config.dim(), config.dim(), weight, out, n);
    }

    private static void addBias(float[] y, float[] bias, int n) {
        for (int t = 0; t < n; t++) {
            int o = t * bias.length;
            for (int i = 0; i < bias.length; i++) {
                y[o + i] += bias[i];
            }
        }
    }

    /** RMSNorm of each of the {@code heads} consecutive head vectors in {@code x}, in place. */
    private void perHeadRmsNorm(float[] x, float[] weight, int heads) {
        RmsNorm.apply(backend, config.rmsNormEps(), x, config.headDim(), config.headDim(), weight, x, heads);
    }

    /**
     * Grouped-query attention from the normed input {@code b.xb} to the heads' values in {@code b.att}
     * (MHA: as many KV heads as query heads; MQA: one):
     * {@code attn(rope(wq·x + bq), rope(wk·x + bk), wv·x + bv)}, the biases Qwen2's, the keys and
     * values written into the sequences' blocks before attention reads them back (over the layer's
     * sliding window where it has one). A layer that shares an earlier layer's K/V (CLA) only queries.
     */
    private void groupedQueryAttention(Batch batch, int layer, LlamaWeights.Layer w, ForwardBuffers b) {
        int n = batch.size;
        backend.matmul(w.wq(), b.xb, b.q, n);
        if (config.qkvBias()) {
            addBias(b.q, w.bq(), n);
        }
        if (w.qNorm() != null) { // Qwen3: every head's query and key RMS-normed on their own
            perHeadRmsNorm(b.q, w.qNorm(), n * config.numHeads());
        }
        rope.rotate(b.q, config.numHeads(), config.headDim(), 0, n, b);
        if (config.ownsKv(layer)) { // otherwise (CLA) an earlier layer's K/V are already in the blocks
            writeKeysAndValues(batch, layer, w, b);
        }
        b.attention.run(batch, layer);
    }

    private void writeKeysAndValues(Batch batch, int layer, LlamaWeights.Layer w, ForwardBuffers b) {
        int n = batch.size, kvDim = config.kvDim();
        backend.matmul(w.wk(), b.xb, b.k, n);
        backend.matmul(w.wv(), b.xb, b.v, n);
        if (config.qkvBias()) {
            addBias(b.k, w.bk(), n);
            addBias(b.v, w.bv(), n);
        }
        if (w.kNorm() != null) {
            perHeadRmsNorm(b.k, w.kNorm(), n * config.numKvHeads());
        }
        rope.rotate(b.k, config.numKvHeads(), config.headDim(), 0, n, b);
        for (int t = 0; t < n; t++) {
            batch.tables[t].writeKv(config.kvLayer(layer), batch.positions[t], b.k, t * kvDim, b.v, t * kvDim);
        }
    }
}
