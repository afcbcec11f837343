package io.kvasir.node;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Phaser;
import java.util.logging.Level;
import java.util.logging.Logger;

import io.kvasir.engine.kv.BlockTable;
import io.kvasir.engine.kv.KvBlockPool;
import io.kvasir.kv.block.BlockFormatException;
import io.kvasir.kv.block.BlockKey;
import io.kvasir.kv.client.KvStoreClient;
import io.kvasir.kv.client.KvStoreException;

/**
 * The KV store as a decode node's prefix cache. Keys follow the shared contract (model
 * fingerprint, layout version, tenant salt, then the token chain), so any node finds what any other
 * stored. Loads block the step loop (one lookup, one batched get); stores are encoded on the
 * caller's thread (the blocks may be freed right after) and sent from a background thread.
 */
public final class StorePrefixCache implements PrefixCache, AutoCloseable {
    private static final Logger LOG = Logger.getLogger(StorePrefixCache.class.getName());

    private final KvStoreClient store;
    private final EngineBlocks blocks;
    private final BlockKeyChain chain;
    private final int blockSize;
    private final ExecutorService writer = Executors.newSingleThreadExecutor(
            Thread.ofPlatform().daemon().name("kv-writer").factory());
    private final Phaser pendingWrites = new Phaser(1);

    public StorePrefixCache(KvStoreClient store, EngineBlocks blocks, String fingerprint, int blockSize) {
        this.store = store;
        this.blocks = blocks;
        this.chain = new BlockKeyChain(fingerprint, blockSize);
        this.blockSize = blockSize;
    }

    List<BlockKey> keys(String tenant, int[] tokens, int limit) {
        return chain.keys(tenant, tokens, limit);
    }

    @Override
    public BlockKeyChain chain() {
        return chain;
    }

    @Override
    public int load(String tenant, int[] tokens, int limit, BlockTable table) {
        List<BlockKey> keys = keys(tenant, tokens, limit);
        int start = table.numBlocks();
        if (keys.size() <= start) {
            return table.numTokens();
        }
        try {
            int cached = store.lookup(tenant, keys).getCachedPrefixBlocks();
            if (cached <= start) {
                return table.numTokens();
            }
            List<ByteBuffer> found = store.get(tenant, keys.subList(start, cached));
            KvBlockPool pool = table.pool();
            List<Integer> ids = new ArrayList<>();
            for (ByteBuffer bytes : found) {
                if (bytes == null || pool.numAvailable() == 0) {
                    break;
                }
                int id = pool.allocate();
                try {
                    blocks.decodeInto(bytes, pool, id);
                } catch (BlockFormatException e) {
                    pool.free(id);
                    LOG.warning("unusable block from the store (recomputing from here): " + e.getMessage());
                    break;
                }
                ids.add(id);
            }
            table.adopt(ids.stream().mapToInt(Integer::intValue).toArray());
            return table.numTokens();
        } catch (KvStoreException e) {
            LOG.log(Level.WARNING, "KV store unavailable for a prefix lookup; computing the prompt", e);
            return table.numTokens();
        }
    }

    @Override
    public void store(String tenant, int[] tokens, BlockTable table, int from, int to) {
        if (from >= to) {
            return;
        }
        List<BlockKey> keys = keys(tenant, tokens, to * blockSize).subList(from, to);
        List<byte[]> payloads = new ArrayList<>(to - from);
        for (int b = from; b < to; b++) {
            payloads.add(blocks.encode(table.pool(), table.blockId(b)));
        }
        pendingWrites.register();
        writer.execute(() -> {
            try {
                store.put(tenant, keys, payloads);
            } catch (KvStoreException | RuntimeException e) {
                LOG.log(Level.WARNING, "could not write " + keys.size() + " blocks to the KV store", e);
            } finally {
                pendingWrites.arriveAndDeregister();
            }
        });
    }

    /** Waits until every store issued so far has reached the store (tests, shutdown). */
    public void flush() {
        pendingWrites.arriveAndAwaitAdvance();
    }

    @Override
    public void close() {
        flush();
        writer.shutdown();
    }
}
