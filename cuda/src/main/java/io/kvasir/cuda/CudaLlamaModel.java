package io.kvasir.cuda;

import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;

import io.kvasir.engine.backend.reference.ReferenceBackend;
import io.kvasir.engine.model.LlamaModel;
import io.kvasir.engine.model.LlamaWeights;
import io.kvasir.engine.model.ModelConfig;
import io.kvasir.engine.model.RopeConfig;
import io.kvasir.engine.model.RopeLayout;
import io.kvasir.engine.tensor.DType;
import io.kvasir.engine.tensor.WeightMatrix;

/**
 * A Llama-family model on one GPU, for one sequence: weights in device memory (F32, F16 and BF16
 * as stored; other types dequantized to F16), activations and the paged KV pool there too, and
 * the same forward pass as {@link LlamaModel} step for step, so the CPU engine is its oracle. Only
 * the last token's logits come back to the host (sampling stays there).
 *
 * <p>KV lives in a {@link DeviceKvTier}: a sequence's blocks come from it (a cached prefix is
 * referenced, not copied) and its full blocks go back under their keys when it finishes.
 *
 * <p>Not yet: MLA, sliding windows, several sequences per step (the kernels take them; this class
 * runs one).
 */
public final class CudaLlamaModel implements AutoCloseable {
    private final CudaDevice device;
    private final CudaKernels k;
    private final ModelConfig c;
    private final int chunk;
    private final CudaKernels.KvGeometry kv;
    private final List<AutoCloseable> owned = new ArrayList<>();
    private final Matrix embedding;
    private final Matrix output;
    private final DeviceBuffer outputNorm;
    private final List<Layer> layers = new ArrayList<>();
    private final DeviceBuffer invFreq;
    private final DeviceKvTier tier;
    private final boolean ownsTier;
    private final DeviceBuffer table;
    private final Sequence single;
    private final DeviceBuffer x, xb, xb2, q, kk, vv, att, hb, hb2, tokens, positions, seqOf, logits;

    private record Matrix(CudaKernels.WeightType type, DeviceBuffer data, int rows, int cols) {
    }

    private record Layer(DeviceBuffer attnNorm, Matrix wq, Matrix wk, Matrix wv, DeviceBuffer bq, DeviceBuffer bk,
            DeviceBuffer bv, Matrix wo, DeviceBuffer ffnNorm, Matrix gate, Matrix up, Matrix down) {
    }

    /**
     * Uploads {@code model}'s weights; room for sequences of up to {@code maxTokens} tokens, computed
     * {@code chunk} tokens at a time.
     */
    public CudaLlamaModel(CudaDevice device, LlamaModel model, int maxTokens, int chunk, int blockSize) {
        this(device, model, null, maxTokens, chunk, blockSize);
    }

    /** On a shared device KV tier ({@code tier} null: a private one just big enough for one sequence). */
    public CudaLlamaModel(CudaDevice device, LlamaModel model, DeviceKvTier tier, int maxTokens, int chunk, int blockSize) {
        this.device = device;
        this.k = new CudaKernels(device);
        this.c = model.config();
        this.chunk = chunk;
        if (c.mla() != null) {
            throw new IllegalArgumentException("MLA models do not run on the GPU yet");
        }
        if (c.widestWindow() != Integer.MAX_VALUE) {
            throw new IllegalArgumentException("sliding-window models do not run on the GPU yet");
        }
        if (c.moe() != null) {
            throw new IllegalArgumentException("Mixture-of-Experts models do not run on the GPU yet");
        }
        if (c.kvShareFactor() > 1) {
            throw new IllegalArgumentException("models with cross-layer KV sharing do not run on the GPU yet");
        }
        if (c.qkNorm()) {
            throw new IllegalArgumentException(c.architecture() + " models (per-head q/k norms) do not run on the GPU yet");
        }
        LlamaWeights w = model.weights();
        ReferenceBackend dequantizer = new ReferenceBackend();
        embedding = own(upload(w.tokenEmbedding(), dequantizer, true));
        output = own(upload(w.output(), dequantizer, false));
        outputNorm = own(DeviceBuffer.of(w.outputNorm()));
        for (LlamaWeights.Layer l : w.layers()) {
            layers.add(new Layer(own(DeviceBuffer.of(l.attnNorm())), own(upload(l.wq(), dequantizer, false)),
                    own(upload(l.wk(), dequantizer, false)), own(upload(l.wv(), dequantizer, false)),
                    l.bq() == null ? null : own(DeviceBuffer.of(l.bq())), l.bk() == null ? null : own(DeviceBuffer.of(l.bk())),
                    l.bv() == null ? null : own(DeviceBuffer.of(l.bv())), own(upload(l.wo(), dequantizer, false)),
                    own(DeviceBuffer.of(l.ffnNorm())), own(upload(l.wGate(), dequantizer, false)),
                    own(upload(l.wUp(), dequantizer, false)), own(upload(l.wDown(), dequantizer, false))));
        }
        RopeConfig rope = c.rope();
        float[] freq = new float[rope.dims() / 2];
        for (int i = 0; i < freq.length; i++) {
            double f = Math.pow(rope.base(), -2.0 * i / rope.dims()) / rope.linearScale();
            freq[i] = (float) (rope.freqFactors() == null ? f : f / rope.freqFactors()[i]);
        }
        invFreq = own(DeviceBuffer.of(freq));
        int maxBlocks = (maxTokens + blockSize - 1) / blockSize;
        kv = new CudaKernels.KvGeometry(c.numLayers(), c.numKvHeads(), c.headDim(), blockSize, maxBlocks);
        this.ownsTier = tier == null;
        this.tier = tier != null ? tier : new DeviceKvTier(kv, maxBlocks, evicted -> { });
        CudaKernels.KvGeometry g = this.tier.geometry();
        if (g.layers() != kv.layers() || g.kvHeads() != kv.kvHeads() || g.headDim() != kv.headDim()
                || g.blockSize() != kv.blockSize()) {
            throw new IllegalArgumentException("the device KV tier holds blocks of another shape: " + g);
        }
        table = own(new DeviceBuffer(4L * chunk * maxBlocks)); // up to chunk sequences per step
        x = own(new DeviceBuffer(4L * chunk * c.dim()));
        xb = own(new DeviceBuffer(4L * chunk * Math.max(c.dim(), c.queryDim())));
        xb2 = own(new DeviceBuffer(4L * chunk * c.dim()));
        q = own(new DeviceBuffer(4L * chunk * c.queryDim()));
        kk = own(new DeviceBuffer(4L * chunk * c.kvDim()));
        vv = own(new DeviceBuffer(4L * chunk * c.kvDim()));
        att = own(new DeviceBuffer(4L * chunk * c.queryDim()));
        hb = own(new DeviceBuffer(4L * chunk * c.ffnDim()));
        hb2 = own(new DeviceBuffer(4L * chunk * c.ffnDim()));
        tokens = own(new DeviceBuffer(4L * chunk));
        positions = own(new DeviceBuffer(4L * chunk));
        seqOf = own(new DeviceBuffer(4L * chunk));
        logits = own(new DeviceBuffer(4L * chunk * c.vocabSize()));
        single = new Sequence();
    }

    private <T extends AutoCloseable> T own(T resource) {
        owned.add(resource);
        return resource;
    }

    private Matrix own(Matrix m) {
        owned.add(m.data());
        return m;
    }

    /** A weight matrix as stored when the kernels read that type, else dequantized to F16, row by row. */
    private static Matrix upload(WeightMatrix w, ReferenceBackend dequantizer, boolean embeddingTable) {
        DType t = w.dtype();
        if (t == DType.F32 && !embeddingTable) {
            float[] all = w.data().toArray(ValueLayout.JAVA_FLOAT_UNALIGNED);
            return new Matrix(CudaKernels.WeightType.F32, DeviceBuffer.of(all), w.rows(), w.cols());
        }
        if (t == DType.F16 || t == DType.BF16) {
            short[] raw = w.data().toArray(ValueLayout.JAVA_SHORT_UNALIGNED);
            return new Matrix(t == DType.F16 ? CudaKernels.WeightType.F16 : CudaKernels.WeightType.BF16,
                    DeviceBuffer.of(raw), w.rows(), w.cols());
        }
        short[] half = new short[Math.multiplyExact(w.rows(), w.cols())];
        float[] row = new float[w.cols()];
        for (int r = 0; r < w.rows(); r++) {
            dequantizer.dequantizeRow(w, r, row, 0);
            for (int i = 0; i < row.length; i++) {
                half[r * w.cols() + i] = Float.floatToFloat16(row[i]);
            }
        }
        return new Matrix(CudaKernels.WeightType.F16, DeviceBuffer.of(half), w.rows(), w.cols());
    }

    /** One sequence's KV on the device: its blocks, in order, and how many tokens they hold. */
    public final class Sequence {
        private final int[] blocks = new int[kv.maxBlocksPerSeq()];
        private int numBlocks;
        private int length;

        public int length() {
            return length;
        }

        /** The device block holding tokens {@code [index * blockSize, (index + 1) * blockSize)}. */
        public int block(int index) {
            if (index >= numBlocks) {
                throw new IndexOutOfBoundsException("block " + index + " of " + numBlocks);
            }
            return blocks[index];
        }

        /** Its blocks go back to the tier (cached ones stay cached, the rest are freed). */
        public void release() {
            for (int b = 0; b < numBlocks; b++) {
                tier.release(blocks[b]);
            }
            numBlocks = 0;
            length = 0;
        }

        /**
         * Restarts it from {@code prefixBlocks} holding its first {@code tokens} tokens (from
         * {@link DeviceKvTier#lookup} or {@link DeviceKvTier#importBlock}; their references pass to it).
         */
        public void startFrom(int[] prefixBlocks, int tokens) {
            release();
            if (tokens > prefixBlocks.length * kv.blockSize()) {
                throw new IllegalArgumentException(tokens + " prefix tokens need more than " + prefixBlocks.length + " blocks");
            }
            System.arraycopy(prefixBlocks, 0, blocks, 0, prefixBlocks.length);
            numBlocks = prefixBlocks.length;
            length = tokens;
        }

        /** Ends it, caching its full blocks under {@code keys} (one per full block, in order). */
        public void finish(java.util.List<?> keys) {
            int full = Math.min(keys.size(), length / kv.blockSize());
            for (int b = 0; b < full; b++) {
                tier.cache(keys.get(b), blocks[b]);
            }
            release();
        }

        private void reserve(int tokens) {
            if (tokens > blocks.length * kv.blockSize()) {
                throw new IllegalArgumentException("sequence of " + tokens + " tokens exceeds this model's "
                        + blocks.length * kv.blockSize() + " on the GPU");
            }
            while (numBlocks * kv.blockSize() < tokens) {
                blocks[numBlocks++] = tier.allocate();
            }
        }
    }

    /** A new, empty sequence. */
    public Sequence newSequence() {
        return new Sequence();
    }

    /** The most sequences one {@link #step} takes. */
    public int maxBatch() {
        return chunk;
    }

    // the single-sequence API (generate, prefill node, checks)

    /** Starts a new sequence: the current one's blocks go back to the tier (uncached ones are freed). */
    public void reset() {
        single.release();
    }

    /** Starts the sequence from cached blocks; see {@link Sequence#startFrom}. */
    public void startFrom(int[] prefixBlocks, int tokens) {
        single.startFrom(prefixBlocks, tokens);
    }

    /** The single-sequence API's sequence. */
    public Sequence sequence() {
        return single;
    }

    /** Ends the sequence, caching its full blocks under {@code keys} (one per full block, in order). */
    public void finish(java.util.List<?> keys) {
        single.finish(keys);
    }

    /** Appends {@code ids} to the sequence and returns the logits after the last of them. */
    public float[] forward(int[] ids) {
        return prefill(single, ids);
    }

    /** Appends {@code ids} to {@code s} (in chunks) and returns the logits after the last of them. */
    public float[] prefill(Sequence s, int[] ids) {
        s.reserve(s.length + ids.length);
        for (int from = 0; from < ids.length; from += chunk) {
            int n = Math.min(chunk, ids.length - from);
            int[] pos = new int[n];
            for (int t = 0; t < n; t++) {
                pos[t] = s.length + t;
            }
            boolean last = from + n == ids.length;
            run(java.util.Arrays.copyOfRange(ids, from, from + n), pos, new int[n], List.of(s), last ? new int[] {n - 1} : new int[0]);
            s.length += n;
        }
        return logitsOf(1);
    }

    /**
     * One decode step: token {@code tokens[i]} appended to {@code seqs.get(i)}, all in one pass (each
     * weight read once for the whole batch); returns their logits, {@code [i][vocab]}.
     */
    public float[] step(List<Sequence> seqs, int[] tokens) {
        int n = seqs.size();
        if (n > chunk) {
            throw new IllegalArgumentException("a step of " + n + " sequences exceeds " + chunk);
        }
        int[] pos = new int[n];
        int[] seqOfToken = new int[n];
        int[] rows = new int[n];
        for (int i = 0; i < n; i++) {
            Sequence s = seqs.get(i);
            s.reserve(s.length + 1);
            pos[i] = s.length;
            seqOfToken[i] = i;
            rows[i] = i;
        }
        run(tokens, pos, seqOfToken, seqs, rows);
        for (Sequence s : seqs) {
            s.length++;
        }
        return logitsOf(n);
    }

    private float[] logitsOf(int rows) {
        float[] out = new float[rows * c.vocabSize()];
        device.synchronize();
        logits.copyTo(out);
        return out;
    }

    /** Uploads a step's inputs (tokens, positions, each token's sequence, the sequences' tables) and runs it. */
    private void run(int[] ids, int[] pos, int[] seqOfToken, List<Sequence> seqs, int[] logitRows) {
        int[] tables = new int[seqs.size() * kv.maxBlocksPerSeq()];
        for (int i = 0; i < seqs.size(); i++) {
            Sequence s = seqs.get(i);
            System.arraycopy(s.blocks, 0, tables, i * kv.maxBlocksPerSeq(), s.numBlocks);
        }
        copy(tokens, ids);
        copy(positions, pos);
        copy(seqOf, seqOfToken);
        copy(table, tables);
        step(ids.length, logitRows);
    }

    private static void copy(DeviceBuffer to, int[] values) {
        jcuda.driver.JCudaDriver.cuMemcpyHtoD(to.ptr, jcuda.Pointer.to(values), 4L * values.length);
    }

    /** One chunk of {@code n} tokens: every layer, then (for the last chunk) the last token's logits. */
    private void step(int n, int[] logitRows) {
        int dim = c.dim();
        if (embedding.type() == CudaKernels.WeightType.F32) {
            throw new IllegalStateException("embedding tables are uploaded as f16/bf16");
        }
        k.embed(embedding.data(), embedding.type() == CudaKernels.WeightType.BF16, tokens, x, n, dim);
        boolean neox = c.rope().layout() != RopeLayout.INTERLEAVED;
        float scale = (float) (1 / Math.sqrt(c.headDim()));
        for (int l = 0; l < layers.size(); l++) {
            Layer w = layers.get(l);
            k.rmsNorm(x, w.attnNorm(), xb, n, dim, c.rmsNormEps());
            matmul(w.wq(), xb, q, n);
            matmul(w.wk(), xb, kk, n);
            matmul(w.wv(), xb, vv, n);
            if (w.bq() != null) {
                k.addBias(q, w.bq(), n, c.queryDim());
                k.addBias(kk, w.bk(), n, c.kvDim());
                k.addBias(vv, w.bv(), n, c.kvDim());
            }
            k.rope(q, positions, invFreq, n, c.numHeads(), c.headDim(), c.rope().dims(), neox);
            k.rope(kk, positions, invFreq, n, c.numKvHeads(), c.headDim(), c.rope().dims(), neox);
            k.writeKv(kk, vv, tier.kPool(), tier.vPool(), table, seqOf, positions, n, l, kv);
            k.attention(q, tier.kPool(), tier.vPool(), table, seqOf, positions, att, n, c.numHeads(), l, kv, scale);
            matmul(w.wo(), att, xb2, n);
            k.add(x, xb2, (long) n * dim);
            k.rmsNorm(x, w.ffnNorm(), xb, n, dim, c.rmsNormEps());
            matmul(w.gate(), xb, hb, n);
            matmul(w.up(), xb, hb2, n);
            k.swiGlu(hb, hb2, (long) n * c.ffnDim());
            matmul(w.down(), hb, xb2, n);
            k.add(x, xb2, (long) n * dim);
        }
        if (logitRows.length > 0) {
            // the wanted tokens' rows: gathered into xb2, normed, then the output matrix
            for (int r = 0; r < logitRows.length; r++) {
                jcuda.driver.JCudaDriver.cuMemcpyDtoD(xb2.ptr.withByteOffset(4L * r * dim),
                        x.ptr.withByteOffset(4L * logitRows[r] * dim), 4L * dim);
            }
            k.rmsNorm(xb2, outputNorm, xb, logitRows.length, dim, c.rmsNormEps());
            matmul(output, xb, logits, logitRows.length);
        }
    }

    private void matmul(Matrix w, DeviceBuffer in, DeviceBuffer out, int n) {
        k.matmul(w.type(), w.data(), in, out, w.rows(), w.cols(), n);
    }

    @Override
    public void close() {
        reset();
        if (ownsTier) {
            tier.close();
        }
        for (AutoCloseable r : owned) {
            try {
                r.close();
            } catch (Exception e) {
                // freeing the rest matters more
            }
        }
    }
}
