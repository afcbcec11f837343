package io.kvasir.engine.model;

import io.kvasir.engine.backend.Backend;
import io.kvasir.engine.kv.BlockTable;
import io.kvasir.engine.kv.KvBlockPool;
import java.util.Arrays;

/**
 * Multi-head Latent Attention in its absorbed form, for prefill and decode alike: the cache holds
 * per token only the normalised latent {@code c} and the roped shared key {@code k_pe}; each head's
 * query is folded into latent space ({@code q_lat = W_UK^T·q_nope}), scores are
 * {@code (q_lat·c + q_pe·k_pe) / sqrt(qk_nope + qk_rope)}, the weighted sum runs over the latents,
 * and {@code W_UV} expands it to the head's value afterwards. The per-head K and V are never built
 * (that is what MLA saves), and the same rows serve as keys and values.
 *
 * <p>This is llama.cpp's MLA path too (an MQA over {@code [c | k_pe]} with values {@code c}).
 */
final class LatentAttention implements Backend.RangeBody {
    private static final int HEADS_PER_ITEM = 4;

    private final Backend backend;
    private final MlaConfig m;
    private final int numHeads, width, rank, headsPerItem, itemsPerToken;
    private final float scale;
    private final float[] qAbs;      // (tokens, heads, rank + rope): folded query, then its rope part
    private final float[] latentOut; // (tokens, heads, rank): attended latent per head
    private final float[][][] scores; // (threads, headsPerItem, contextLength)
    private final float[][] widened;   // (threads) one block's rows of a layer, from a 16-bit pool

    private Batch batch;
    private int layer;

    LatentAttention(ModelConfig c, Backend backend, float[] qAbs, float[] latentOut) {
        this.backend = backend;
        this.m = c.mla();
        this.numHeads = c.numHeads();
        this.width = m.latentWidth();
        this.rank = m.kvLoraRank();
        this.headsPerItem = CausalAttention.largestDivisorAtMost(numHeads, HEADS_PER_ITEM);
        this.itemsPerToken = numHeads / headsPerItem;
        this.scale = (float) (m.scoreScale() / Math.sqrt(m.qkHeadDim()));
        this.qAbs = qAbs;
        this.latentOut = latentOut;
        this.scores = new float[backend.numThreads()][headsPerItem][c.contextLength()];
        this.widened = new float[backend.numThreads()][0];
    }

    /** Attends every token of the batch over its sequence's cached rows up to its position. */
    void run(Batch batch, int layer) {
        this.batch = batch;
        this.layer = layer;
        backend.parallelFor(batch.size * itemsPerToken, this);
        this.batch = null;
    }

    @Override
    public void run(int chunk, int from, int to) {
        float[][] s = scores[chunk];
        for (int item = from; item < to; item++) {
            int t = item / itemsPerToken, firstHead = (item % itemsPerToken) * headsPerItem;
            BlockTable kv = batch.tables[t];
            KvBlockPool pool = kv.pool();
            int blockSize = pool.blockSize();
            int numPositions = batch.positions[t] + 1;
            int rows = pool.keepsFloats() ? pool.rowOffset(layer, 0) : 0;
            for (int first = 0; first < numPositions; first += blockSize) {
                float[] block = rowsOf(pool, kv.blockId(first / blockSize), chunk);
                int numSlots = Math.min(blockSize, numPositions - first);
                for (int g = 0; g < headsPerItem; g++) {
                    int qOff = (t * numHeads + firstHead + g) * width;
                    for (int slot = 0; slot < numSlots; slot++) {
                        s[g][first + slot] = scale * backend.dot(qAbs, qOff, block, rows + slot * width, width);
                    }
                }
            }
            for (int g = 0; g < headsPerItem; g++) {
                backend.softmax(s[g], numPositions);
            }
            int outOff = (t * numHeads + firstHead) * rank;
            Arrays.fill(latentOut, outOff, outOff + headsPerItem * rank, 0f);
            for (int first = 0; first < numPositions; first += blockSize) {
                float[] block = rowsOf(pool, kv.blockId(first / blockSize), chunk);
                int numSlots = Math.min(blockSize, numPositions - first);
                for (int g = 0; g < headsPerItem; g++) {
                    backend.addWeightedRows(s[g], first, block, rows, width, numSlots, latentOut, outOff + g * rank, rank);
                }
            }
        }
    }

    /** A block's floats: the pool's own array, or this layer's rows widened from a 16-bit pool (then from row 0). */
    private float[] rowsOf(KvBlockPool pool, int blockId, int chunk) {
        if (pool.keepsFloats()) {
            return pool.data(blockId);
        }
        int n = pool.blockSize() * width;
        if (widened[chunk].length < n) {
            widened[chunk] = new float[n];
        }
        pool.widen(blockId, pool.rowOffset(layer, 0), n, widened[chunk], 0);
        return widened[chunk];
    }
}
