package io.kvasir.engine.model;

import io.kvasir.engine.backend.Backend;
import io.kvasir.engine.kv.BlockTable;
import io.kvasir.engine.kv.KvBlockPool;
import java.util.Arrays;

/**
 * Causal GQA attention of a chunk's queries over every cached position up to their own, read
 * block by block through the sequence's table. (token, head) pairs are split across workers; each
 * worker keeps its own score row. One instance per {@link ForwardBuffers}, reused every layer, so
 * attention allocates nothing.
 */
final class CausalAttention implements Backend.RangeBody {
    private final Backend backend;
    private final int numHeads, headDim, queryDim, groupSize, kvDim;
    private final float scale;
    private final float[] q;        // (tokens, numHeads·headDim) the chunk's roped queries
    private final float[] out;      // (tokens, numHeads·headDim)
    private final float[][] scores; // (threads, contextLength)

    // the call in progress
    private Batch batch;
    private int layer;

    CausalAttention(ModelConfig c, Backend backend, float[] q, float[] out) {
        this.backend = backend;
        this.numHeads = c.numHeads();
        this.headDim = c.headDim();
        this.queryDim = c.queryDim();
        this.groupSize = c.groupSize();
        this.kvDim = c.kvDim();
        this.scale = (float) (1.0 / Math.sqrt(headDim));
        this.q = q;
        this.out = out;
        this.scores = new float[backend.numThreads()][c.contextLength()];
    }

    /** Attends every token of the batch over its own sequence up to its position; their K/V are cached. */
    void run(Batch batch, int layer) {
        this.batch = batch;
        this.layer = layer;
        backend.parallelFor(batch.size * numHeads, this);
        this.batch = null;
    }

    @Override
    public void run(int chunk, int from, int to) {
        float[] s = scores[chunk];
        for (int idx = from; idx < to; idx++) {
            int t = idx / numHeads, h = idx % numHeads;
            BlockTable kv = batch.tables[t];
            KvBlockPool pool = kv.pool();
            int blockSize = pool.blockSize();
            int numPositions = batch.positions[t] + 1;
            int qOff = t * queryDim + h * headDim;
            int kvHead = h / groupSize, kvHeadOff = kvHead * headDim;
            // scores = q·k / sqrt(d), a block of slots at a time over its transposed keys
            for (int first = 0; first < numPositions; first += blockSize) {
                float[] block = pool.data(kv.blockId(first / blockSize));
                backend.keyScores(q, qOff, block, pool.keyOffset(layer, kvHead * headDim), headDim, blockSize,
                        Math.min(blockSize, numPositions - first), scale, s, first);
            }
            backend.softmax(s, numPositions);
            // out = Σ_p softmax_p · v_p
            Arrays.fill(out, qOff, qOff + headDim, 0f);
            for (int first = 0; first < numPositions; first += blockSize) {
                float[] block = pool.data(kv.blockId(first / blockSize));
                backend.addWeightedRows(s, first, block, pool.valueOffset(layer, 0) + kvHeadOff, kvDim,
                        Math.min(blockSize, numPositions - first), out, qOff, headDim);
            }
        }
    }
}
