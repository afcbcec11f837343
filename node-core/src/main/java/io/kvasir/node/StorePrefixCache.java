package io.kvasir.node;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Phaser;
import java.util.concurrent.atomic.LongAdder;
import java.util.logging.Level;
import java.util.logging.Logger;

import io.kvasir.engine.kv.BlockTable;
import io.kvasir.engine.kv.KvBlockPool;
import io.kvasir.kv.block.BlockFormatException;
import io.kvasir.kv.block.BlockKey;
import io.kvasir.kv.client.KvStoreClient;
import io.kvasir.kv.client.KvStoreException;
import io.kvasir.proto.kv.v1.Tier;

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
    private final LongAdder bytesRead = new LongAdder();
    private final LongAdder bytesWritten = new LongAdder();

    public StorePrefixCache(KvStoreClient store, EngineBlocks blocks, BlockKeyChain chain) {
        this.store = store;
        this.blocks = blocks;
        this.chain = chain;
        this.blockSize = chain.blockSize();
    }

    @Override
    public BlockKeyChain chain() {
        return chain;
    }

    @Override
    public Loaded load(String tenant, List<BlockKey> keys, BlockTable table) {
        int start = table.numBlocks();
        if (keys.size() <= start) {
            return new Loaded(table.numTokens(), 0);
        }
        try {
            int cached = store.lookup(tenant, keys).getCachedPrefixBlocks();
            if (cached <= start) {
                return new Loaded(table.numTokens(), 0);
            }
            Tier[] tiers = new Tier[cached - start];
            List<ByteBuffer> found = store.get(tenant, keys.subList(start, cached), tiers);
            KvBlockPool pool = table.pool();
            List<Integer> ids = new ArrayList<>();
            int fromSsd = 0;
            for (ByteBuffer bytes : found) {
                if (bytes == null || pool.numAvailable() == 0) {
                    break;
                }
                int id = pool.allocate();
                int size = bytes.remaining();
                try {
                    blocks.decodeInto(bytes, pool, id);
                } catch (BlockFormatException e) {
                    pool.free(id);
                    LOG.warning("unusable block from the store (recomputing from here): " + e.getMessage());
                    break;
                }
                if (tiers[ids.size()] == Tier.TIER_SSD) {
                    fromSsd += blockSize;
                }
                bytesRead.add(size);
                ids.add(id);
            }
            table.adopt(ids.stream().mapToInt(Integer::intValue).toArray());
            return new Loaded(table.numTokens(), fromSsd);
        } catch (KvStoreException e) {
            LOG.log(Level.WARNING, "KV store unavailable for a prefix lookup; computing the prompt", e);
            return new Loaded(table.numTokens(), 0);
        }
    }

    @Override
    public void store(String tenant, List<BlockKey> chainKeys, BlockTable table, int from, int to) {
        if (from >= to) {
            return;
        }
        List<BlockKey> keys = List.copyOf(chainKeys.subList(from, to));
        List<byte[]> payloads = new ArrayList<>(to - from);
        for (int b = from; b < to; b++) {
            byte[] payload = blocks.encode(table.pool(), table.blockId(b));
            bytesWritten.add(payload.length);
            payloads.add(payload);
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

    /** Block bytes this cache has read from the store and handed to it so far. */
    public long[] bytesMoved() {
        return new long[] {bytesRead.sum(), bytesWritten.sum()};
    }

    /** {@link #bytesMoved} in Prometheus' text format, for the node's /metrics. */
    public String metricsText() {
        return new io.kvasir.kv.metrics.PrometheusText()
                .family("kvasir_node_kv_store_bytes_total", "Block bytes this node read from and wrote to the KV store",
                        "counter")
                .sample("kvasir_node_kv_store_bytes_total", "{direction=\"read\"}", bytesRead.sum())
                .sample("kvasir_node_kv_store_bytes_total", "{direction=\"write\"}", bytesWritten.sum())
                .toString();
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
