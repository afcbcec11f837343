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
import io.kvasir.engine.kv.LayerArrivals;
import io.kvasir.kv.block.BlockFormatException;
import io.kvasir.kv.block.BlockKey;
import io.kvasir.kv.block.KvBlock;
import io.kvasir.kv.client.KvStoreClient;
import io.kvasir.kv.client.KvStoreException;
import io.kvasir.proto.kv.v1.Tier;
import io.kvasir.telemetry.Telemetry;
import io.prometheus.metrics.core.metrics.CounterWithCallback;
import io.prometheus.metrics.model.registry.PrometheusRegistry;

/**
 * The KV store as a decode node's prefix cache. Keys follow the shared contract (model
 * fingerprint, layout version, tenant salt, then the token chain), so any node finds what any other
 * stored. Loads block the step loop for one lookup and one batched get; {@link #loadByLayer} only
 * for the first layer, the rest arriving while the forward pass runs. Stores are encoded on the
 * caller's thread (the blocks may be freed right after) and sent from a background thread.
 */
public final class StorePrefixCache implements PrefixCache, AutoCloseable {
    private static final Logger LOG = Logger.getLogger(StorePrefixCache.class.getName());

    private final KvStoreClient store;
    private final EngineBlocks blocks;
    private final BlockKeyChain chain;
    private final int blockSize;
    /** Puts blocks, each in the trace of the sequence that made them (so are the reader's gets). */
    private final ExecutorService writer = Telemetry.propagating(Executors.newSingleThreadExecutor(
            Thread.ofPlatform().daemon().name("kv-writer").factory()));
    /** Fetches the later layers of loads by layer. */
    private final ExecutorService reader = Telemetry.propagating(Executors.newSingleThreadExecutor(
            Thread.ofPlatform().daemon().name("kv-reader").factory()));
    private volatile boolean byLayer;
    private final Phaser pendingWrites = new Phaser(1);
    private final LongAdder bytesRead = new LongAdder();
    private final LongAdder bytesWritten = new LongAdder();
    private final LongAdder loadsByLayer = new LongAdder();

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
        return load(tenant, keys, table, false);
    }

    /**
     * After {@link #loadingByLayer}: as {@link #load}, but only the first layer of each block is in place
     * on return; the rest follow in a few gets on a thread of this cache's while the forward pass
     * computes, and the table waits for each layer as the pass reaches it. Where the members share
     * this host's memory, or the model cannot take a prefix layer by layer, loads whole blocks.
     */
    @Override
    public Loaded loadByLayer(String tenant, List<BlockKey> keys, BlockTable table) {
        int start = table.numBlocks();
        return load(tenant, keys, table, byLayer && blocks.loadsByLayer() && keys.size() > start
                && !store.readsSharedMemory(keys.get(start)));
    }

    /** The cached run of {@code keys} after the blocks {@code table} holds, whole or (layered) by layer. */
    private Loaded load(String tenant, List<BlockKey> keys, BlockTable table, boolean layered) {
        int start = table.numBlocks();
        if (keys.size() <= start) {
            return new Loaded(table.numTokens(), 0);
        }
        try {
            int cached = store.lookup(tenant, keys).getCachedPrefixBlocks();
            if (cached <= start) {
                return new Loaded(table.numTokens(), 0);
            }
            List<BlockKey> wanted = keys.subList(start, cached);
            Run run = layered ? startByLayer(tenant, wanted, table) : whole(tenant, wanted, table);
            return new Loaded(table.numTokens(), run.fromSsd());
        } catch (KvStoreException e) {
            LOG.log(Level.WARNING, "KV store unavailable for a prefix lookup; computing the prompt", e);
            return new Loaded(table.numTokens(), 0);
        }
    }

    /** {@code wanted}'s blocks, whole, into the table. */
    private Run whole(String tenant, List<BlockKey> wanted, BlockTable table) throws KvStoreException {
        Tier[] tiers = new Tier[wanted.size()];
        Run run = decodeRun(store.get(tenant, wanted, tiers), tiers, table.pool(), blocks::decodeInto);
        table.adopt(run.ids());
        return run;
    }

    /** {@code wanted}'s blocks into the table with their first layer; the rest fetched in the background. */
    private Run startByLayer(String tenant, List<BlockKey> wanted, BlockTable table) throws KvStoreException {
        KvBlockPool pool = table.pool();
        int[] groups = layerGroups(pool.numLayers());
        int firstLayers = groups[1];
        Tier[] tiers = new Tier[wanted.size()];
        Run run = decodeRun(store.getLayers(tenant, wanted, tiers, 0, firstLayers), tiers, pool,
                (bytes, into, id) -> blocks.importLayers(blocks.decodeLayers(bytes, 0, firstLayers), into, id));
        int[] ids = run.ids();
        if (ids.length > 0) {
            LayerArrivals arrivals = new LayerArrivals(firstLayers);
            table.adoptArriving(ids, arrivals);
            List<BlockKey> runKeys = List.copyOf(wanted.subList(0, ids.length));
            loadsByLayer.increment();
            reader.execute(() -> fetchLaterLayers(tenant, runKeys, pool, ids, groups, arrivals));
        }
        return run;
    }

    /** Fills an engine block from store bytes. */
    private interface BlockDecoder {
        void decode(ByteBuffer bytes, KvBlockPool pool, int blockId) throws BlockFormatException;
    }

    /** What a get put into the pool: new blocks in order, and the tokens among them that came from the SSD tier. */
    private record Run(int[] ids, int fromSsd) {
    }

    /**
     * Decodes the blocks a get found into newly allocated pool blocks, in order, up to the first that
     * is missing, unusable or has no room: the rest of the prompt is computed.
     */
    private Run decodeRun(List<ByteBuffer> found, Tier[] tiers, KvBlockPool pool, BlockDecoder decoder) {
        List<Integer> ids = new ArrayList<>();
        int fromSsd = 0;
        for (ByteBuffer bytes : found) {
            if (bytes == null || pool.numAvailable() == 0) {
                break;
            }
            int size = bytes.remaining();
            int id = pool.allocate();
            try {
                decoder.decode(bytes, pool, id);
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
        return new Run(ids.stream().mapToInt(Integer::intValue).toArray(), fromSsd);
    }

    /**
     * Where a load by layer splits a model's layers: the first alone, so the forward pass starts as
     * soon as possible, then the rest in up to three gets (each get reads and slices every block on
     * its member again, so more of them cost the members more than the overlap gains).
     */
    static int[] layerGroups(int layers) {
        int rest = layers - 1;
        int gets = Math.min(3, rest);
        int[] bounds = new int[gets + 2];
        bounds[1] = 1;
        for (int g = 1; g <= gets; g++) {
            bounds[g + 1] = 1 + rest * g / gets;
        }
        return bounds;
    }

    /** Layers {@code groups[1]} onwards of the blocks {@code ids} hold, group by group, into the pool. */
    private void fetchLaterLayers(String tenant, List<BlockKey> keys, KvBlockPool pool, int[] ids, int[] groups,
            LayerArrivals arrivals) {
        try {
            for (int g = 1; g + 1 < groups.length; g++) {
                int from = groups[g];
                int count = groups[g + 1] - from;
                List<ByteBuffer> got = store.getLayers(tenant, keys, new Tier[keys.size()], from, count);
                KvBlock[] slices = new KvBlock[ids.length];
                for (int i = 0; i < ids.length; i++) {
                    if (got.get(i) == null) {
                        arrivals.failed("block " + i + " of the prefix left the store before its layers " + from + "+");
                        return;
                    }
                    bytesRead.add(got.get(i).remaining());
                    slices[i] = blocks.decodeLayers(got.get(i), from, count);
                }
                boolean filled = arrivals.fill(() -> {
                    for (int i = 0; i < ids.length; i++) {
                        blocks.importLayers(slices[i], pool, ids[i]);
                    }
                });
                if (!filled) {
                    return;
                }
                arrivals.arrived(from + count);
            }
        } catch (KvStoreException | BlockFormatException | RuntimeException e) {
            LOG.log(Level.WARNING, "a prefix's later layers did not arrive; the node computes the prompt", e);
            arrivals.failed(e.getMessage());
        }
    }

    /** Loads that took a prefix layer by layer so far. */
    public long loadsByLayer() {
        return loadsByLayer.sum();
    }

    /**
     * Makes {@link #loadByLayer} load by layer (it loads whole blocks otherwise). It pays where the
     * fetch waits on the network and the forward pass on cores the fetch does not need; on a host
     * whose cores the fetch shares it costs more than it hides: each later get reads every block on
     * its member again (see docs/kv-store.md).
     */
    public StorePrefixCache loadingByLayer() {
        byLayer = true;
        return this;
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

    /** Adds {@link #bytesMoved} to the node's metrics. */
    public void registerMetrics(PrometheusRegistry registry) {
        CounterWithCallback.builder().name("kvasir_node_kv_store_bytes")
                .help("Block bytes this node read from and wrote to the KV store").labelNames("direction")
                .callback(cb -> {
                    cb.call(bytesRead.sum(), "read");
                    cb.call(bytesWritten.sum(), "write");
                }).register(registry);
    }

    /** Waits until every store issued so far has reached the store (tests, shutdown). */
    public void flush() {
        pendingWrites.arriveAndAwaitAdvance();
    }

    @Override
    public void close() {
        flush();
        writer.shutdown();
        reader.shutdown();
    }
}
