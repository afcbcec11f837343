package io.kvasir.engine.model;

import io.kvasir.engine.backend.Backend;
import io.kvasir.engine.kv.BlockTable;
import io.kvasir.engine.kv.KvBlockPool;
import java.util.Arrays;

/**
 * Causal GQA attention of a batch's queries over every cached position up to their own, read
 * block by block through each sequence's table.
 *
 * <p>Work is split across workers by (token, KV head, group of up to {@value #HEADS_PER_ITEM} query
 * heads sharing that KV head): each KV block is read once per item and used by all its query heads
 * while it is in L1, instead of once per query head. One instance per {@link ForwardBuffers}, reused
 * every layer, so attention allocates nothing.
 */
final class CausalAttention implements Backend.RangeBody {
    private static final int HEADS_PER_ITEM = 4;

    private final Backend backend;
    private final int headDim, queryDim, groupSize, kvDim, numKvHeads, headsPerItem, itemsPerKvHead;
    private final float scale;
    private final ModelConfig config;
    private final float[] q;          // (tokens, numHeads·headDim) the batch's roped queries
    private final float[] out;        // (tokens, numHeads·headDim)
    private final float[][][] scores; // (threads, headsPerItem, contextLength)

    // the call in progress
    private Batch batch;
    private int layer;

    CausalAttention(ModelConfig c, Backend backend, float[] q, float[] out) {
        this.backend = backend;
        this.headDim = c.headDim();
        this.queryDim = c.queryDim();
        this.groupSize = c.groupSize();
        this.kvDim = c.kvDim();
        this.numKvHeads = c.numKvHeads();
        this.headsPerItem = largestDivisorAtMost(groupSize, HEADS_PER_ITEM);
        this.itemsPerKvHead = groupSize / headsPerItem;
        this.scale = (float) (1.0 / Math.sqrt(headDim));
        this.config = c;
        this.q = q;
        this.out = out;
        this.scores = new float[backend.numThreads()][headsPerItem][c.contextLength()];
    }

    static int largestDivisorAtMost(int n, int max) {
        for (int d = Math.min(n, max); d > 1; d--) {
            if (n % d == 0) return d;
        }
        return 1;
    }

    /** Attends every token of the batch over its own sequence up to its position; their K/V are cached. */
    void run(Batch batch, int layer) {
        this.batch = batch;
        this.layer = layer;
        backend.parallelFor(batch.size * numKvHeads * itemsPerKvHead, this);
        this.batch = null;
    }

    @Override
    public void run(int chunk, int from, int to) {
        float[][] s = scores[chunk];
        int itemsPerToken = numKvHeads * itemsPerKvHead;
        for (int item = from; item < to; item++) {
            int t = item / itemsPerToken, rest = item % itemsPerToken;
            int kvHead = rest / itemsPerKvHead;
            int firstHead = kvHead * groupSize + (rest % itemsPerKvHead) * headsPerItem;
            BlockTable kv = batch.tables[t];
            KvBlockPool pool = kv.pool();
            int blockSize = pool.blockSize();
            int numPositions = batch.positions[t] + 1;
            // a sliding window sees positions [lowest, numPositions); scores are indexed from the
            // start of lowest's block, and that block's slots before lowest are masked out
            int lowest = Math.max(0, numPositions - config.window(layer));
            int start = lowest / blockSize * blockSize, seen = numPositions - start;
            int qOff = t * queryDim + firstHead * headDim;
            int keys = pool.keyOffset(layer, kvHead * headDim), values = pool.valueOffset(layer, 0) + kvHead * headDim;
            // scores = q·k / sqrt(d), a block of slots at a time over its transposed keys
            for (int first = start; first < numPositions; first += blockSize) {
                float[] block = pool.data(kv.blockId(first / blockSize));
                int numSlots = Math.min(blockSize, numPositions - first);
                for (int g = 0; g < headsPerItem; g++) {
                    backend.keyScores(q, qOff + g * headDim, block, keys, headDim, blockSize, numSlots, scale, s[g],
                            first - start);
                }
            }
            for (int g = 0; g < headsPerItem; g++) {
                Arrays.fill(s[g], 0, lowest - start, Float.NEGATIVE_INFINITY);
                backend.softmax(s[g], seen);
            }
            // out = Σ_p softmax_p · v_p
            Arrays.fill(out, qOff, qOff + headsPerItem * headDim, 0f);
            for (int first = start; first < numPositions; first += blockSize) {
                float[] block = pool.data(kv.blockId(first / blockSize));
                int numSlots = Math.min(blockSize, numPositions - first);
                for (int g = 0; g < headsPerItem; g++) {
                    backend.addWeightedRows(s[g], first - start, block, values, kvDim, numSlots, out,
                            qOff + g * headDim, headDim);
                }
            }
        }
    }
}
