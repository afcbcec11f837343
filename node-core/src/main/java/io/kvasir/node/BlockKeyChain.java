package io.kvasir.node;

import java.util.Arrays;
import java.util.List;

import io.kvasir.engine.kv.KvCacheType;
import io.kvasir.kv.block.BlockKey;
import io.kvasir.kv.block.BlockKeys;
import io.kvasir.kv.block.BlockLayout;

/**
 * The block keys of one model's prompts in one KV cache dtype: every role derives the same ones (router to look up, nodes
 * to load and store). Each cache owner (tenant) has its own salt ({@link CacheSalts}): keys of
 * different tenants never meet, and the store refuses one tenant another's blocks besides.
 */
public record BlockKeyChain(String modelFingerprint, KvCacheType type, int blockSize, CacheSalts salts) {
    /** Keys salted with owners' plain names (no cluster secret). */
    public BlockKeyChain(String modelFingerprint, KvCacheType type, int blockSize) {
        this(modelFingerprint, type, blockSize, CacheSalts.plain());
    }

    /** Keys of the full blocks of {@code tokens[0, limit)}. */
    public List<BlockKey> keys(String tenant, int[] tokens, int limit) {
        return BlockKeys.chain(root(tenant), Arrays.copyOf(tokens, limit), blockSize);
    }

    private BlockKey root(String tenant) {
        return BlockKeys.root(modelFingerprint, BlockLayout.VERSION, EngineBlocks.storeDtype(type), salts.of(tenant));
    }

    /**
     * Keys of the full blocks of {@code tokens[0, limit)}, given {@code known}: the keys of its first
     * blocks (as {@link #keys} gave them), which are not hashed again.
     */
    public List<BlockKey> extend(String tenant, List<BlockKey> known, int[] tokens, int limit) {
        int full = limit / blockSize;
        if (full <= known.size()) {
            return known.subList(0, full);
        }
        List<BlockKey> keys = new java.util.ArrayList<>(full);
        keys.addAll(known);
        for (int b = known.size(); b < full; b++) {
            keys.add(BlockKeys.next(b == 0 ? root(tenant) : keys.get(b - 1), tokens, b * blockSize, blockSize));
        }
        return keys;
    }
}
