package io.kvasir.engine.model;

import io.kvasir.engine.backend.AttentionTile;
import io.kvasir.engine.backend.Backend;
import io.kvasir.engine.kv.BlockTable;
import io.kvasir.engine.kv.KvBlockPool;

/**
 * Causal GQA attention of a batch's queries over every cached position up to their own, read
 * block by block through each sequence's table, with online softmax (FlashAttention): no row of
 * scores longer than a block exists, so a 32K-token prompt needs no 32K-long buffers per query.
 *
 * <p>Work is split across workers by (tile, KV head, group of up to {@value #HEADS_PER_ITEM} query
 * heads sharing that KV head), a tile being up to {@value #TILE_TOKENS} consecutive batch tokens of
 * one sequence (a prefill chunk gives many, a decode step one per sequence). Each KV block is read
 * once per item and used by all its tokens × heads while it is in L1: at long context attention is
 * bound by reading K/V, and a prefill tile of 16 tokens reads them 16× less often than token by
 * token. One instance per {@link ForwardBuffers}, reused every layer, so attention allocates nothing.
 */
final class CausalAttention implements Backend.RangeBody {
    private static final int HEADS_PER_ITEM = 4;
    private static final int TILE_TOKENS = 16;

    private final Backend backend;
    private final int headDim, queryDim, groupSize, kvDim, numKvHeads, headsPerItem, itemsPerKvHead;
    private final float scale;
    private final ModelConfig config;
    private final float[] q;            // (tokens, numHeads·headDim) the batch's roped queries
    private final float[] out;          // (tokens, numHeads·headDim)
    private final AttentionTile[] tiles; // (threads)
    private final int[] tileStart;      // batch index of each tile's first token
    private final int[] tileLength;

    // the call in progress
    private Batch batch;
    private int layer;
    private int kvLayer; // the cache layer it reads: another under cross-layer sharing

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
        this.tiles = new AttentionTile[backend.numThreads()];
        for (int i = 0; i < tiles.length; i++) {
            tiles[i] = new AttentionTile(TILE_TOKENS * headsPerItem, headDim);
        }
        int maxTokens = q.length / queryDim;
        this.tileStart = new int[maxTokens];
        this.tileLength = new int[maxTokens];
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
        this.kvLayer = config.kvLayer(layer);
        int numTiles = 0;
        for (int t = 0; t < batch.size; ) {
            int end = t + 1;
            while (end < batch.size && end - t < TILE_TOKENS && batch.tables[end] == batch.tables[t]) end++;
            tileStart[numTiles] = t;
            tileLength[numTiles++] = end - t;
            t = end;
        }
        backend.parallelFor(numTiles * numKvHeads * itemsPerKvHead, this);
        this.batch = null;
    }

    @Override
    public void run(int chunk, int from, int to) {
        AttentionTile tile = tiles[chunk];
        int itemsPerTile = numKvHeads * itemsPerKvHead;
        for (int item = from; item < to; item++) {
            int tileIndex = item / itemsPerTile, rest = item % itemsPerTile;
            int kvHead = rest / itemsPerKvHead;
            int firstHead = kvHead * groupSize + (rest % itemsPerKvHead) * headsPerItem;
            int first = tileStart[tileIndex], length = tileLength[tileIndex];
            BlockTable kv = batch.tables[first];
            KvBlockPool pool = kv.pool();
            int blockSize = pool.blockSize();
            // row (i, g): token first+i, query head firstHead+g; a sliding window sees only the last
            // window positions up to the token's own
            tile.reset(length * headsPerItem);
            int lowest = Integer.MAX_VALUE, end = 0;
            for (int i = 0; i < length; i++) {
                int numPositions = batch.positions[first + i] + 1;
                int windowStart = Math.max(0, numPositions - config.window(layer));
                lowest = Math.min(lowest, windowStart);
                end = Math.max(end, numPositions);
                for (int g = 0; g < headsPerItem; g++) {
                    int r = i * headsPerItem + g, qOff = (first + i) * queryDim + (firstHead + g) * headDim;
                    for (int d = 0; d < headDim; d++) tile.q[r * headDim + d] = q[qOff + d] * scale;
                    tile.from[r] = windowStart;
                    tile.to[r] = numPositions;
                }
            }
            int keys = pool.keyOffset(kvLayer, kvHead * headDim), values = pool.valueOffset(kvLayer, 0) + kvHead * headDim;
            for (int firstPosition = lowest / blockSize * blockSize; firstPosition < end; firstPosition += blockSize) {
                int blockId = kv.blockId(firstPosition / blockSize), numSlots = Math.min(blockSize, end - firstPosition);
                if (pool.keepsFloats()) {
                    backend.attendBlock(tile, pool.data(blockId), keys, values, kvDim, blockSize, firstPosition, numSlots);
                } else {
                    // this head's keys ([dim][slot], contiguous) and values (a row per slot) as floats
                    int keyFloats = headDim * blockSize;
                    float[] widened = tile.block(keyFloats + blockSize * headDim);
                    pool.widen(blockId, keys, keyFloats, widened, 0);
                    for (int slot = 0; slot < numSlots; slot++) {
                        pool.widen(blockId, values + slot * kvDim, headDim, widened, keyFloats + slot * headDim);
                    }
                    backend.attendBlock(tile, widened, 0, keyFloats, headDim, blockSize, firstPosition, numSlots);
                }
            }
            for (int i = 0; i < length; i++) {
                for (int g = 0; g < headsPerItem; g++) {
                    tile.result(i * headsPerItem + g, out, (first + i) * queryDim + (firstHead + g) * headDim);
                }
            }
        }
    }
}
