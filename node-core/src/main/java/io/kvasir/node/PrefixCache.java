package io.kvasir.node;

import java.util.List;

import io.kvasir.engine.kv.BlockTable;
import io.kvasir.engine.kv.KvCacheType;
import io.kvasir.kv.block.BlockKey;

/** Where a node finds prefixes computed before, and leaves the full blocks it computes. */
public interface PrefixCache {
    /**
     * What a load left in the table: {@code tokens} it now holds, and of the tokens this load added,
     * {@code fromSsd} came from the store's SSD tier (the rest from its host tier).
     */
    record Loaded(int tokens, int fromSsd) {
    }

    /** The keys this cache files blocks under, or null when it has none (then nodes keep no local tier). */
    default BlockKeyChain chain() {
        return null;
    }

    /** The precision of the blocks this cache keeps: a node's pool keeps the same (f32 for a cache without keys). */
    default KvCacheType type() {
        return chain() == null ? KvCacheType.F32 : chain().type();
    }

    /**
     * Extends {@code table} (which holds only full blocks, maybe none) with the cached run of the
     * blocks named by {@code keys} (a prompt's full blocks in order, from {@link #chain}) that follows
     * them. Anything missing or unreadable ends the run: the caller computes the rest.
     */
    Loaded load(String tenant, List<BlockKey> keys, BlockTable table);

    /**
     * As {@link #load}, but layers of the blocks may still be arriving on return: the table waits for
     * each as the forward pass reads it ({@link BlockTable#awaitLayer}). Loads whole blocks unless
     * the cache can do better.
     */
    default Loaded loadByLayer(String tenant, List<BlockKey> keys, BlockTable table) {
        return load(tenant, keys, table);
    }

    /** Keeps blocks {@code [from, to)} of {@code table}, all full, under {@code keys.get(from)} … {@code keys.get(to - 1)}. */
    void store(String tenant, List<BlockKey> keys, BlockTable table, int from, int to);

    /** No cache: every prompt is computed (into a pool of {@code type}), nothing is kept. */
    static PrefixCache none(KvCacheType type) {
        return new NoStore(null, type);
    }

    /**
     * No store: a decode node keeps finished blocks in its own pool (its local tier, found by these
     * keys) and nothing else, as vLLM's automatic prefix caching does on each replica.
     */
    static PrefixCache localOnly(BlockKeyChain chain) {
        return new NoStore(chain, chain.type());
    }

    /** Loads nothing, stores nothing; with a chain, nodes still keep a local tier under its keys. */
    record NoStore(BlockKeyChain chain, KvCacheType type) implements PrefixCache {
        @Override
        public Loaded load(String tenant, List<BlockKey> keys, BlockTable table) {
            return new Loaded(table.numTokens(), 0);
        }

        @Override
        public void store(String tenant, List<BlockKey> keys, BlockTable table, int from, int to) {
        }
    }
}
