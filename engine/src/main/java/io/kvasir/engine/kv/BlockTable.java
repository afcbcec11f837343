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
        return blockIds[index];
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

    /** Records that positions below {@code numTokens} now hold K/V. */
    public void setNumTokens(int numTokens) {
        if (numTokens > numBlocks * pool.blockSize()) {
            throw new IllegalStateException(numTokens + " tokens do not fit in " + numBlocks + " blocks");
        }
        this.numTokens = numTokens;
    }

    /** Returns every block to the pool. */
    public void release() {
        for (int i = 0; i < numBlocks; i++) {
            pool.free(blockIds[i]);
        }
        numBlocks = 0;
        numTokens = 0;
    }
}
