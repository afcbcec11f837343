package io.kvasir.node;

import io.kvasir.engine.kv.BlockTable;

/** Where a decode node finds prefixes computed before, and leaves the full blocks it computes. */
public interface PrefixCache {
    /** The keys this cache files blocks under, or null when it has none (then nodes keep no local tier). */
    default BlockKeyChain chain() {
        return null;
    }

    /**
     * Extends {@code table} (which holds only full blocks, maybe none) with the cached run of full
     * blocks of {@code tokens[0, limit)} that follows them; returns the tokens the table then holds.
     * Anything missing or unreadable ends the run: the caller computes the rest.
     */
    int load(String tenant, int[] tokens, int limit, BlockTable table);

    /** Keeps blocks {@code [from, to)} of {@code table}, all full, which hold {@code tokens} from position 0. */
    void store(String tenant, int[] tokens, BlockTable table, int from, int to);

    /** No cache: every prompt is computed, nothing is kept. */
    PrefixCache NONE = new PrefixCache() {
        @Override
        public int load(String tenant, int[] tokens, int limit, BlockTable table) {
            return table.numTokens();
        }

        @Override
        public void store(String tenant, int[] tokens, BlockTable table, int from, int to) {
        }
    };
}
