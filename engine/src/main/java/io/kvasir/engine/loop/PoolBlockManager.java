package io.kvasir.engine.loop;

import io.kvasir.engine.kv.BlockTable;
import io.kvasir.engine.kv.KvBlockPool;

/** Sequences' KV in a host pool and nothing behind it: every prompt is computed, nothing is kept. */
public final class PoolBlockManager implements BlockManager<BlockTable> {
    private final KvBlockPool pool;
    private volatile int reserved;

    public PoolBlockManager(KvBlockPool pool) {
        this.pool = pool;
    }

    @Override
    public int blockSize() {
        return pool.blockSize();
    }

    @Override
    public long totalBlocks() {
        return pool.maxBlocks();
    }

    @Override
    public long freeBlocks() {
        return pool.maxBlocks() - reserved;
    }

    @Override
    public BlockTable open(EngineLoop.Request request) {
        return new BlockTable(pool);
    }

    @Override
    public boolean reserve(BlockTable kv, EngineLoop.Request request, int blocksNeeded) {
        if (reserved + blocksNeeded > pool.maxBlocks()) {
            return false;
        }
        reserved += blocksNeeded;
        return true;
    }

    @Override
    public Prefix loadPrefix(BlockTable kv, EngineLoop.Request request, int limit) {
        return new Prefix(0, 0, 0);
    }

    @Override
    public void finish(BlockTable kv, EngineLoop.Request request, int[] tokens, boolean keep) {
        reserved -= EngineLoop.blocksNeeded(request, pool.blockSize());
        kv.release();
    }
}
