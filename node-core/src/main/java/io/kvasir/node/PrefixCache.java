package io.kvasir.node;

import io.kvasir.engine.kv.BlockTable;

/** Where a decode node finds prefixes computed before, and leaves the full blocks it computes. */
public interface PrefixCache {
    /**
     * Loads the longest cached run of full blocks at the start of {@code tokens[0, limit)} into the
     * empty {@code table}; returns how many tokens it covers (a multiple of the block size, maybe 0).
     * Anything missing or unreadable ends the run: the caller computes the rest.
     */
    int load(String tenant, int[] tokens, int limit, BlockTable table);

    /** Keeps blocks {@code [from, to)} of {@code table}, all full, which hold {@code tokens} from position 0. */
    void store(String tenant, int[] tokens, BlockTable table, int from, int to);

    /** No cache: every prompt is computed, nothing is kept. */
    PrefixCache NONE = new PrefixCache() {
        @Override
        public int load(String tenant, int[] tokens, int limit, BlockTable table) {
            return 0;
        }

        @Override
        public void store(String tenant, int[] tokens, BlockTable table, int from, int to) {
        }
    };
}
