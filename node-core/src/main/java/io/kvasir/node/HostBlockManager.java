package io.kvasir.node;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.logging.Level;
import java.util.logging.Logger;

import io.kvasir.engine.kv.BlockTable;
import io.kvasir.engine.kv.KvBlockPool;
import io.kvasir.engine.loop.BlockManager;
import io.kvasir.engine.loop.EngineLoop;
import io.kvasir.kv.block.BlockKey;
import io.kvasir.kv.store.NodeHeartbeat;

/**
 * Sequences' KV in a host pool, with a {@link PrefixCache} (the store, or nothing) behind it and,
 * optionally, the node's local tier in front: finished sequences' full blocks kept in the pool by
 * key, least recently used first. A new sequence shares the ones its prompt starts with (a block is
 * never written once full), as vLLM's prefix caching does: its reservation counts only the blocks
 * it adds, and a block a running sequence holds is never evicted. Cached blocks count as free:
 * admission evicts them when it needs the room (as vLLM counts its cached, unreferenced blocks).
 *
 * <p>Called on the loop's thread; {@link #freeBlocks}, {@link #resident} and the counters are read
 * from any.
 */
public final class HostBlockManager implements BlockManager<HostBlockManager.Kv> {
    private static final Logger LOG = Logger.getLogger(HostBlockManager.class.getName());

    /** One sequence's KV: its block table, and what this manager remembers of it. */
    public static final class Kv {
        private final BlockTable table;
        /** The keys of the prompt's full blocks, once first needed. */
        private List<BlockKey> keys;
        private int reserved;
        /** Blocks at the start that came from the local tier, and below which blocks need not be stored. */
        private int localBlocks;
        private int storedFrom;
        /** Blocks of its own it put into the local tier while running. */
        private int shared;

        private Kv(BlockTable table) {
            this.table = table;
        }

        public BlockTable table() {
            return table;
        }
    }

    private record LocalBlock(String owner, int blockId) {
    }

    /** Whether finished sequences' blocks stay in the pool for later prompts (only where a block depends on its prefix alone). */
    public enum LocalTier {
        KEEP, NONE
    }

    private final KvBlockPool pool;
    private final PrefixCache cache;
    /** The keys blocks are cached under; null when the cache keeps nothing. */
    private final BlockKeyChain chain;
    private final boolean keepLocal;
    private final int blockSize;
    /** The local tier, in access order; loop thread only ({@link #resident} is its published copy). */
    private final LinkedHashMap<BlockKey, LocalBlock> local = new LinkedHashMap<>(256, 0.75f, true);
    private volatile List<NodeHeartbeat.Resident> resident = List.of();
    private volatile long localHitTokens;
    /** Blocks promised to admitted sequences. */
    private volatile int reserved;
    /** Local blocks running sequences share that no reservation counts. */
    private volatile int pinned;
    /** Local blocks running sequences put there from their own reservation. */
    private int sharedByRunning;

    public HostBlockManager(KvBlockPool pool, PrefixCache cache, LocalTier localTier) {
        if (pool.type() != cache.type()) {
            throw new IllegalArgumentException("a pool of " + pool.type().id() + " blocks behind a cache of "
                    + cache.type().id() + " blocks");
        }
        this.pool = pool;
        this.cache = cache;
        this.chain = cache.chain();
        this.keepLocal = localTier == LocalTier.KEEP && chain != null;
        this.blockSize = pool.blockSize();
    }

    public KvBlockPool pool() {
        return pool;
    }

    @Override
    public int blockSize() {
        return blockSize;
    }

    @Override
    public long totalBlocks() {
        return pool.maxBlocks();
    }

    @Override
    public long freeBlocks() {
        return pool.maxBlocks() - reserved - pinned;
    }

    @Override
    public Kv open(EngineLoop.Request request) {
        return new Kv(new BlockTable(pool));
    }

    /** Shares the local blocks the prompt starts with, then evicts what every reservation needs. */
    @Override
    public boolean reserve(Kv kv, EngineLoop.Request request, int blocksNeeded) {
        int[] run = localRun(kv, request);
        int newlyPinned = 0;
        for (int id : run) {
            if (pool.holders(id) == 1) { // only the local tier holds it: admitting takes it out of eviction's reach
                newlyPinned++;
            }
        }
        int own = blocksNeeded - run.length;
        pinned = pinnedBlocks();
        if (reserved + pinned + own + newlyPinned > pool.maxBlocks()) {
            return false;
        }
        kv.reserved = own;
        reserved += own;
        for (int id : run) {
            pool.retain(id);
        }
        kv.table.adopt(run);
        kv.localBlocks = run.length;
        // every reservation fits beside the local tier (less the blocks running sequences put there,
        // which their reservations count already); blocks a sequence holds are never evicted
        evictLocalBeyond(pool.maxBlocks() - reserved + sharedByRunning);
        pinned += newlyPinned; // eviction takes only unpinned blocks: no need to count them all again
        return true;
    }

    @Override
    public Prefix loadPrefix(Kv kv, EngineLoop.Request request, int limit) {
        int fromLocal = kv.table.numTokens(); // shared at admission
        List<BlockKey> keys = promptKeys(kv, request);
        PrefixCache.Loaded found = cache.loadByLayer(request.cacheOwner(), keys.subList(0, Math.min(keys.size(), limit / blockSize)),
                kv.table);
        kv.storedFrom = found.tokens() / blockSize;
        localHitTokens = localHitTokens + fromLocal;
        return new Prefix(found.tokens(), fromLocal, found.fromSsd());
    }

    /**
     * Puts the prompt's full blocks not taken from the local tier into it as soon as they hold their
     * KV (a full block never changes), so sequences on the same prefix that arrive while this one
     * runs share them instead of computing them again. They stay the sequence's own in the
     * reservations until it ends.
     */
    @Override
    public Prefix forgetLoadedPrefix(Kv kv, EngineLoop.Request request) {
        kv.table.truncate(kv.localBlocks);
        kv.storedFrom = kv.localBlocks; // the recomputed blocks go to the store again: it may have lost them
        int tokens = kv.table.numTokens();
        return new Prefix(tokens, tokens, 0);
    }

    @Override
    public void promptComputed(Kv kv, EngineLoop.Request request) {
        kv.table.awaitAllLayers(); // the pass may have read none of a prefix (a whole prompt cached)
        if (!keepLocal) {
            return;
        }
        List<BlockKey> keys = promptKeys(kv, request);
        int full = Math.min(keys.size(), kv.table.numTokens() / blockSize);
        for (int b = kv.localBlocks; b < full; b++) {
            if (!local.containsKey(keys.get(b))) {
                pool.retain(kv.table.blockId(b));
                local.put(keys.get(b), new LocalBlock(request.cacheOwner(), kv.table.blockId(b)));
                kv.shared++;
            }
        }
        touchTailFirst(keys, full);
        sharedByRunning += kv.shared;
        publishResident();
    }

    /**
     * Every full block, prompt and generated alike, to the cache (so the next turn finds them) and
     * into the local tier (its hold passes to the tier); the sequence's hold on the rest is dropped,
     * shared blocks the tier already has included.
     */
    @Override
    public void finish(Kv kv, EngineLoop.Request request, int[] tokens, boolean keep) {
        int full = kv.table.numTokens() / blockSize;
        List<BlockKey> keys = keep && chain != null
                ? chain.extend(request.cacheOwner(), promptKeys(kv, request), tokens, full * blockSize) : List.of();
        if (keep && chain != null) {
            try {
                cache.store(request.cacheOwner(), keys, kv.table, kv.storedFrom, full);
            } catch (RuntimeException e) {
                LOG.log(Level.WARNING, "could not hand blocks to the prefix cache", e);
            }
        }
        sharedByRunning -= kv.shared; // from now on their holders, if any, pin them
        if (!keepLocal || !keep) {
            kv.table.release();
        } else {
            int[] ids = kv.table.detach();
            for (int b = 0; b < ids.length; b++) {
                if (b < full && !local.containsKey(keys.get(b))) {
                    local.put(keys.get(b), new LocalBlock(request.cacheOwner(), ids[b]));
                } else {
                    pool.free(ids[b]);
                }
            }
            touchTailFirst(keys, full);
            publishResident();
        }
        reserved -= kv.reserved;
        pinned = pinnedBlocks();
    }

    /** The keys of the prompt's full blocks, hashed once per sequence (none without a cache). */
    private List<BlockKey> promptKeys(Kv kv, EngineLoop.Request request) {
        if (kv.keys == null) {
            kv.keys = chain == null ? List.of()
                    : chain.keys(request.cacheOwner(), request.prompt(), request.prompt().length);
        }
        return kv.keys;
    }

    /** The local blocks holding the longest run of the prompt's leading full blocks. */
    private int[] localRun(Kv kv, EngineLoop.Request request) {
        if (!keepLocal) {
            return new int[0];
        }
        int[] prompt = request.prompt();
        List<BlockKey> keys = promptKeys(kv, request).subList(0,
                (request.firstToken() >= 0 ? prompt.length : prompt.length - 1) / blockSize);
        int[] run = new int[keys.size()];
        int n = 0;
        for (BlockKey key : keys) {
            LocalBlock held = local.get(key);
            if (held == null || !held.owner().equals(request.cacheOwner())) {
                break;
            }
            run[n++] = held.blockId();
        }
        touchTailFirst(keys, n);
        return Arrays.copyOf(run, n);
    }

    /**
     * Marks a prefix's first {@code n} blocks used, its last block least recently: eviction then
     * takes a prefix from its tail, as vLLM frees a sequence's blocks in reverse. Taking the head
     * first would leave every later block unreachable (a run starts at block 0) yet still cached.
     */
    private void touchTailFirst(List<BlockKey> keys, int n) {
        for (int b = n - 1; b >= 0; b--) {
            local.get(keys.get(b));
        }
    }

    /** Local blocks running sequences share, less those inside their own reservations. */
    private int pinnedBlocks() {
        int shared = 0;
        for (LocalBlock b : local.values()) {
            if (pool.holders(b.blockId()) > 1) {
                shared++;
            }
        }
        return shared - sharedByRunning;
    }

    /** Frees least recently used local blocks no sequence holds until at most {@code room} remain. */
    private void evictLocalBeyond(int room) {
        var it = local.values().iterator();
        boolean changed = false;
        while (local.size() > Math.max(0, room) && it.hasNext()) {
            int id = it.next().blockId();
            if (pool.holders(id) > 1) {
                continue; // a running sequence reads it
            }
            pool.free(id);
            it.remove();
            changed = true;
        }
        if (changed) {
            publishResident();
        }
    }

    private void publishResident() {
        List<NodeHeartbeat.Resident> now = new ArrayList<>(local.size());
        local.forEach((key, held) -> now.add(new NodeHeartbeat.Resident(held.owner(), key)));
        resident = List.copyOf(now);
    }

    /** Blocks the local tier holds, for the node's heartbeat. */
    public List<NodeHeartbeat.Resident> resident() {
        return resident;
    }

    /** Blocks the local tier holds now. */
    public int localBlocks() {
        return resident.size();
    }

    /** Prompt tokens served from the local tier so far. */
    public long localHitTokens() {
        return localHitTokens;
    }
}
