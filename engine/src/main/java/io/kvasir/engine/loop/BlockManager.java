package io.kvasir.engine.loop;

/**
 * Where the loop's sequences keep their KV, and the prefixes cached for them: a pool of blocks in
 * host memory or on a device, with whatever tiers stand behind it. The loop promises that a
 * sequence it admits never needs more blocks than {@link #reserve} granted, so a running sequence
 * never runs out; how a block is laid out, and in which dtype, is this side's business alone.
 *
 * <p>Every method but {@link #open}, {@link #freeBlocks} and {@link #totalBlocks} is called on the
 * loop's thread.
 *
 * @param <K> one sequence's KV (a block table in a host pool, a sequence on the device)
 */
public interface BlockManager<K> {
    /**
     * What {@link #loadPrefix} put into a sequence: the first {@code tokens} prompt tokens; of them,
     * {@code local} were already in this node's own pool and {@code ssd} came from the store's SSD tier.
     */
    record Prefix(int tokens, int local, int ssd) {
    }

    /** Tokens per block. */
    int blockSize();

    /** Blocks in the pool: no sequence may need more. */
    long totalBlocks();

    /** Blocks neither reserved by a running sequence nor kept by one (cached blocks count as free). */
    long freeBlocks();

    /** A new sequence's KV, empty. Any thread. */
    K open(EngineLoop.Request request);

    /**
     * Reserves a sequence's worst case, {@code blocksNeeded} blocks less the cached ones it can share,
     * making room by evicting cached blocks; false when that does not fit now (it is asked again later).
     */
    boolean reserve(K kv, EngineLoop.Request request, int blocksNeeded);

    /** Extends {@code kv} with the cached run of full blocks of {@code tokens[0, limit)} of the prompt. */
    Prefix loadPrefix(K kv, EngineLoop.Request request, int limit);

    /**
     * A prefix {@link #loadPrefix} left arriving layer by layer will not all arrive (the forward pass
     * or {@link #promptComputed} threw {@link io.kvasir.engine.kv.PrefixLostException}): drops it and
     * whatever was computed after it, keeping what this node held before; the caller computes the rest.
     */
    default Prefix forgetLoadedPrefix(K kv, EngineLoop.Request request) {
        throw new IllegalStateException("this block manager loads prefixes whole");
    }

    /**
     * The prompt's KV is computed: its full blocks may be shared with sequences that arrive now. A
     * prefix still arriving is awaited here (the forward pass may not have read all of it).
     */
    default void promptComputed(K kv, EngineLoop.Request request) {
    }

    /**
     * Ends a sequence: keeps its full blocks (holding {@code tokens}, prompt then generated) in the
     * caches when {@code keep}, and releases its reservation and every block it holds.
     */
    void finish(K kv, EngineLoop.Request request, int[] tokens, boolean keep);
}
