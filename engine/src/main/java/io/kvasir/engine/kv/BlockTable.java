package io.kvasir.engine.kv;

import java.util.Arrays;

/**
 * A sequence's KV: the ids of its blocks in position order. Position p lives in block
 * {@code blockIds[p / blockSize]}, slot {@code p % blockSize}. The engine attends only through
 * this table, so a block fetched from the KV store is used exactly like one computed here.
 */
public final class BlockTable {
    private final KvBlockPool pool;
    private int[] blockIds = new int[8];
    private int numBlocks;
    private int numTokens;
    private int firstLiveBlock; // blocks below were released (sliding window)
    /** Layers of adopted blocks still arriving; null when every layer is in place. */
    private LayerArrivals arriving;

    public BlockTable(KvBlockPool pool) {
        this.pool = pool;
    }

    public KvBlockPool pool() {
        return pool;
    }

    /** Tokens whose K/V are in the table. */
    public int numTokens() {
        return numTokens;
    }

    public int numBlocks() {
        return numBlocks;
    }

    public int blockId(int index) {
        if (index < firstLiveBlock) {
            throw new IllegalStateException("block " + index + " was released (outside the sliding window)");
        }
        return blockIds[index];
    }

    /** Blocks still held: all of them, less those released behind a sliding window. */
    public int numLiveBlocks() {
        return numBlocks - firstLiveBlock;
    }

    /** Returns to the pool every block whose positions are all below {@code position}. */
    public void releaseBefore(int position) {
        int end = Math.min(numBlocks, position / pool.blockSize());
        while (firstLiveBlock < end) {
            pool.free(blockIds[firstLiveBlock++]);
        }
    }

    /** Makes room for positions up to {@code newNumTokens - 1}, allocating blocks as needed. */
    public void reserve(int newNumTokens) {
        int needed = (newNumTokens + pool.blockSize() - 1) / pool.blockSize();
        if (needed - numBlocks > pool.numAvailable()) {
            throw new KvCacheFullException("KV cache full: %d more blocks needed for %d tokens, %d free"
                    .formatted(needed - numBlocks, newNumTokens, pool.numAvailable()));
        }
        while (numBlocks < needed) {
            if (numBlocks == blockIds.length) {
                blockIds = Arrays.copyOf(blockIds, numBlocks * 2);
            }
            blockIds[numBlocks++] = pool.allocate();
        }
    }

    /**
     * Appends blocks whose contents were computed elsewhere (the KV store's prefix): the caller
     * allocates and fills them, the table takes them over; all of them must be full.
     */
    public void adopt(int[] filledBlockIds) {
        if (numTokens != numBlocks * pool.blockSize()) {
            throw new IllegalStateException("adopting blocks behind a partial block (" + numTokens + " tokens)");
        }
        for (int id : filledBlockIds) {
            if (numBlocks == blockIds.length) {
                blockIds = Arrays.copyOf(blockIds, numBlocks * 2);
            }
            blockIds[numBlocks++] = id;
        }
        numTokens = numBlocks * pool.blockSize();
    }

    /**
     * {@link #adopt}s blocks of which only some layers hold their K/V yet: {@code arrivals} tells when the
     * rest do, and the forward pass waits for each layer ({@link #awaitLayer}) before it reads it.
     */
    public void adoptArriving(int[] blockIds, LayerArrivals arrivals) {
        adopt(blockIds);
        arriving = arrivals;
    }

    /**
     * Returns once {@code layer} of every block holds its K/V.
     *
     * @throws PrefixLostException an adopted block's layer will never arrive
     */
    public void awaitLayer(int layer) {
        if (arriving != null) {
            arriving.await(layer);
            if (layer == pool.numLayers() - 1) {
                arriving = null;
            }
        }
    }

    /** {@link #awaitLayer} for every layer. */
    public void awaitAllLayers() {
        awaitLayer(pool.numLayers() - 1);
    }

    /**
     * Keeps only the first {@code blocks} blocks (all full) and returns the rest to the pool, with
     * anything still arriving for them: a load that failed halfway, whose prompt is computed again.
     */
    public void truncate(int blocks) {
        abandonArrivals();
        int keep = firstLiveBlock > 0 ? 0 : Math.min(blocks, numBlocks); // some released behind a window: from 0
        for (int i = Math.max(keep, firstLiveBlock); i < numBlocks; i++) {
            pool.free(blockIds[i]);
        }
        firstLiveBlock = 0;
        numBlocks = keep;
        numTokens = keep * pool.blockSize();
    }

    /** Stops a load still filling this table's blocks before they go back to the pool. */
    private void abandonArrivals() {
        if (arriving != null) {
            arriving.abandon();
            arriving = null;
        }
    }

    /** Writes the key and value of the token at {@code position} for {@code layer} (its block reserved). */
    public void writeKv(int layer, int position, float[] k, int kOffset, float[] v, int vOffset) {
        pool.writeKv(blockId(position / pool.blockSize()), layer, position % pool.blockSize(), k, kOffset, v, vOffset);
    }

    /** MLA: writes the cached row (latent then rope key) of the token at {@code position} for {@code layer}. */
    public void writeRow(int layer, int position, float[] row, int offset) {
        pool.writeRow(blockId(position / pool.blockSize()), layer, position % pool.blockSize(), row, offset);
    }

    /**
     * Records that the token at {@code position} holds its K/V in every layer. Under a sliding window
     * of {@code window} tokens, the blocks the next token can no longer see go back to the pool.
     */
    public void written(int position, int window) {
        setNumTokens(Math.max(numTokens, position + 1));
        if (window != Integer.MAX_VALUE) {
            // the next token (at numTokens) sees back to numTokens - window + 1
            releaseBefore(numTokens - window + 1);
        }
    }

    /** Records that positions below {@code numTokens} now hold K/V. */
    public void setNumTokens(int numTokens) {
        if (numTokens > numBlocks * pool.blockSize()) {
            throw new IllegalStateException(numTokens + " tokens do not fit in " + numBlocks + " blocks");
        }
        this.numTokens = numTokens;
    }

    /**
     * Hands every block to the caller, in position order, without freeing any, and empties the
     * table (a decode node keeps finished blocks as its local tier). Not for windowed tables.
     */
    public int[] detach() {
        abandonArrivals();
        if (firstLiveBlock > 0) {
            throw new IllegalStateException("blocks below " + firstLiveBlock + " were already released");
        }
        int[] ids = Arrays.copyOf(blockIds, numBlocks);
        numBlocks = 0;
        numTokens = 0;
        return ids;
    }

    /** Returns every block to the pool. */
    public void release() {
        abandonArrivals();
        for (int i = firstLiveBlock; i < numBlocks; i++) {
            pool.free(blockIds[i]);
        }
        numBlocks = 0;
        numTokens = 0;
        firstLiveBlock = 0;
    }
}
