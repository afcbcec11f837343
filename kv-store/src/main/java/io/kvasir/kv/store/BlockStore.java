package io.kvasir.kv.store;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;
import java.util.logging.Logger;

import com.hazelcast.cluster.Member;
import com.hazelcast.core.HazelcastInstance;
import com.hazelcast.internal.serialization.Data;
import com.hazelcast.internal.serialization.SerializationService;
import com.hazelcast.internal.serialization.impl.HeapData;
import com.hazelcast.spi.impl.SerializationServiceSupport;
import com.hazelcast.map.IMap;

import io.grpc.Status;
import io.grpc.StatusException;
import io.kvasir.kv.block.BlockCodec;
import io.kvasir.kv.block.BlockFormatException;
import io.kvasir.kv.block.BlockKey;
import io.kvasir.kv.block.TenantNames;
import io.kvasir.proto.kv.v1.Tier;
import io.prometheus.metrics.model.registry.PrometheusRegistry;

/**
 * What one member does with blocks, whatever the transport: the host tier (a Hazelcast map,
 * partitioned by key, with LRU eviction; copies on other members through {@link BlockReplication}),
 * the index beside it, this member's SSD tier, tenant checks and quotas.
 *
 * <p>Blocks are immutable under their key (the key hashes the tokens, the model and the tenant), so
 * putting a key that is already stored is a no-op, and no lock is ever needed: races only cost a
 * duplicate write or a miss, never a wrong block.
 */
public final class BlockStore {
    static final String BLOCKS = "kv-blocks";
    static final String INDEX = "kv-index";
    static final String NAME_ATTRIBUTE = "kvasir.name";
    /** Hazelcast executor for reads on the member holding a block (its SSD, its copies). */
    static final String READS = "kv-reads";
    public static final String GRPC_ATTRIBUTE = "kvasir.grpc";
    /** Member attribute: its shared-memory directory and token (see {@code SharedMemoryExport}). */
    public static final String SHARED_MEMORY_ATTRIBUTE = SharedArena.ATTRIBUTE;
    private static final Logger LOG = Logger.getLogger(BlockStore.class.getName());

    /** One answer of {@link #get}: the payload, or null when missing. */
    public record Found(BlockKey key, Tier tier, byte[] payload) {
    }

    /** Where a block is: the store's tier and member, and the nodes whose local tier holds it. */
    public record Location(Tier tier, String member, List<String> nodes) {
    }

    private final HazelcastInstance hz;
    private final String memberName;
    private final SsdTier ssd;
    private final StoreConfig config;
    private final IMap<String, StoredBlock> blocks;
    private final IMap<String, BlockLocation> index;
    private final TenantQuotas quotas;
    private final NodeDirectory nodes;
    /** Recent blocks in shared memory for readers on this host, or null. */
    private final SharedArena arena;
    private final KvStoreMetrics metrics = new KvStoreMetrics();
    private final SerializationService serialization;
    private final BlockReplication replication;
    private final Spills spills;

    BlockStore(HazelcastInstance hz, String memberName, SsdTier ssd, StoreConfig config, SharedArena arena,
            BlockReplication replication) {
        this.hz = hz;
        this.replication = replication;
        this.arena = arena;
        this.memberName = memberName;
        this.ssd = ssd;
        this.config = config;
        this.blocks = hz.getMap(BLOCKS);
        this.index = hz.getMap(INDEX);
        this.quotas = new TenantQuotas(hz, config::quotaOf);
        this.nodes = new NodeDirectory(hz);
        this.serialization = ((SerializationServiceSupport) hz).getSerializationService();
        this.spills = new Spills(index, quotas, ssd, memberName, metrics);
    }

    /** Validates and stores one block. */
    public void put(String tenant, BlockKey key, byte[] payload) throws StatusException {
        put(tenant, key, ByteBuffer.wrap(payload));
    }

    /** Validates and stores one block, copying {@code payload} once (into the map's serialized form). */
    public void put(String tenant, BlockKey key, ByteBuffer payload) throws StatusException {
        requireTenant(tenant);
        requireFits(key, payload.remaining());
        put(tenant, key, StoredBlock.serialized(serialization, tenant, payload), payload.remaining());
    }

    /** Validates and stores a block as received: serialized already ({@link #framed}) when the marshaller could. */
    void put(IncomingBlockMarshaller.IncomingBlock block, BlockKey key) throws StatusException {
        if (!block.framed()) {
            put(block.tenant(), key, block.payload());
            return;
        }
        requireTenant(block.tenant());
        requireFits(key, block.payloadLength());
        put(block.tenant(), key, new HeapData(block.bytes()), block.payloadLength());
    }

    /** An array for the serialized form of the tenant's block, its payload to be written into the last bytes. */
    byte[] framed(String tenant, int payloadLength) {
        return StoredBlock.framed(serialization, tenant, payloadLength);
    }

    /** The largest request a member takes: a block and room for its envelope. */
    int maxMessageBytes() {
        return config.maxBlockBytes() + (1 << 20);
    }

    private void requireFits(BlockKey key, int length) throws StatusException {
        if (length > config.maxBlockBytes()) {
            metrics.rejected.increment();
            throw invalid("block " + key.hex() + ": payload of " + length + " bytes exceeds this member's "
                    + "limit of " + config.maxBlockBytes());
        }
    }

    private void put(String tenant, BlockKey key, Data serialized, int length) throws StatusException {
        ByteBuffer stored = StoredBlock.payloadOf(serialized, length);
        try {
            BlockCodec.decode(stored);
        } catch (BlockFormatException e) {
            metrics.rejected.increment();
            throw invalid("block " + key.hex() + " is not a valid KV block: " + e.getMessage());
        }
        String hex = key.hex();
        BlockLocation existing = index.get(hex);
        if (existing != null && existing.tier() == Tier.TIER_HOST) {
            return; // same key, same content: already here
        }
        if (existing != null && !existing.tenant().equals(tenant)) {
            return; // a key is a tenant's own: never overwrite another tenant's block, never say it exists
        }
        if (existing == null && !quotas.fits(tenant, length)) {
            metrics.rejected.increment();
            throw Status.RESOURCE_EXHAUSTED.withDescription("tenant '" + tenant + "' would exceed its KV quota of "
                    + quotas.quota(tenant) + " bytes (holds " + quotas.used(tenant) + ")").asException();
        }
        // the block goes into the map while its copies travel; the index names them once they are kept
        CompletableFuture<Void> block = setSerialized(hex, serialized);
        List<String> copies = replication.copy(hex, tenant, stored);
        index.set(hex, new BlockLocation(Tier.TIER_HOST, "", tenant, length, copies));
        try {
            block.join();
        } catch (CompletionException e) {
            throw e.getCause() instanceof RuntimeException r ? r : e;
        }
        if (existing == null) {
            quotas.add(tenant, length);
        }
        metrics.puts.increment();
        if (arena != null && arena.readersNearby()) {
            arena.add(key, tenant, stored); // just prefilled: the likeliest block to be read next
        }
    }

    /** A map given serialized bytes stores them as they are (the map is typed for what they decode to). */
    @SuppressWarnings({"unchecked", "rawtypes"})
    private CompletableFuture<Void> setSerialized(String hex, Data block) {
        return ((IMap) blocks).setAsync(hex, block).toCompletableFuture();
    }

    /** Receives the answers of {@link #get(String, List, Sink)} in request order. */
    public interface Sink {
        void accept(Found found) throws InterruptedException;
    }

    /**
     * Keys read from the host tier per map call. One getAll per few blocks: a call per key costs
     * more in Hazelcast's operation overhead than it gains in overlap (measured: 0.47 vs 0.6 GB/s).
     */
    private static final int READ_CHUNK = 8;

    /** The blocks of {@code keys}, in order; missing ones (or another tenant's) have a null payload. */
    public List<Found> get(String tenant, List<BlockKey> keys) throws StatusException, InterruptedException {
        List<Found> out = new ArrayList<>(keys.size());
        get(tenant, keys, out::add);
        return out;
    }

    /** Streams the blocks of {@code keys} to {@code sink}, in order. */
    public void get(String tenant, List<BlockKey> keys, Sink sink) throws StatusException, InterruptedException {
        requireTenant(tenant);
        for (int from = 0; from < keys.size(); from += READ_CHUNK) {
            List<BlockKey> chunk = keys.subList(from, Math.min(keys.size(), from + READ_CHUNK));
            Set<String> hexes = new LinkedHashSet<>();
            for (BlockKey k : chunk) {
                hexes.add(k.hex());
            }
            Map<String, StoredBlock> host = blocks.getAll(hexes);
            for (BlockKey key : chunk) {
                metrics.gets.increment();
                StoredBlock block = host.get(key.hex());
                if (block != null) {
                    boolean mine = block.tenant().equals(tenant);
                    if (mine) {
                        metrics.hostHits.increment();
                    }
                    sink.accept(mine ? new Found(key, Tier.TIER_HOST, block.payload())
                            : new Found(key, Tier.TIER_MISSING, null));
                    continue;
                }
                sink.accept(fromElsewhere(tenant, key));
            }
        }
    }

    /** Where each key's block lives, in one pass over the index. */
    public List<Location> lookup(String tenant, List<BlockKey> keys) throws StatusException {
        requireTenant(tenant);
        Set<String> hexes = new LinkedHashSet<>();
        for (BlockKey k : keys) {
            hexes.add(k.hex());
        }
        Map<String, BlockLocation> found = index.getAll(hexes);
        List<Location> out = new ArrayList<>(keys.size());
        for (BlockKey key : keys) {
            BlockLocation loc = found.get(key.hex());
            List<String> nodes = this.nodes.holders(tenant, key);
            if (loc == null || !loc.tenant().equals(tenant)) {
                out.add(new Location(nodes.isEmpty() ? Tier.TIER_MISSING : Tier.TIER_NODE, "", nodes));
            } else if (loc.tier() == Tier.TIER_HOST) {
                out.add(new Location(Tier.TIER_HOST, ownerOf(key.hex()), nodes));
            } else {
                out.add(new Location(loc.tier(), loc.member(), nodes));
            }
        }
        return out;
    }

    /** Blocks leaving host memory for this member's SSD tier. */
    Spills spills() {
        return spills;
    }

    /** Sets the tenant's byte count to {@code bytes}, as counted from the index (see {@link IndexSweep}). */
    void correctTenantBytes(String tenant, long bytes) {
        long off = bytes - quotas.used(tenant);
        if (off != 0) {
            LOG.info("tenant '" + tenant + "': " + quotas.used(tenant) + " bytes counted, " + bytes + " in the index");
            quotas.add(tenant, off);
        }
    }

    /**
     * A block not in this member's share of host memory: on its way to this member's disk, on this
     * member's disk (a promoted block keeps its file, and the index may lag behind an eviction), as a
     * copy on the members the index names (its owner died, or its eviction is in flight), or on the
     * disk of the member the index names. Found, it is promoted back into host memory.
     */
    private Found fromElsewhere(String tenant, BlockKey key) {
        byte[] payload = onThisMember(tenant, key);
        Tier tier = Tier.TIER_SSD;
        if (payload == null) {
            BlockLocation loc = index.get(key.hex());
            if (loc == null || !loc.tenant().equals(tenant)) {
                return new Found(key, Tier.TIER_MISSING, null);
            }
            if (loc.tier() == Tier.TIER_SSD && !loc.member().equals(memberName)) {
                payload = readSsd(loc.member(), key, tenant);
            }
            if (payload == null && (payload = replication.find(tenant, key, loc.copies())) != null) {
                tier = Tier.TIER_HOST; // another member's memory
            }
            if (payload == null && loc.tier() == Tier.TIER_HOST) {
                payload = inTransit(tenant, key);
            }
        }
        if (payload == null) {
            return new Found(key, Tier.TIER_MISSING, null);
        }
        if (tier == Tier.TIER_SSD) {
            metrics.ssdHits.increment();
        } else {
            metrics.hostHits.increment();
        }
        promote(tenant, key.hex(), payload);
        return new Found(key, tier, payload);
    }

    /** Back into host memory, where the next reader finds it, with fresh copies on other members. */
    private void promote(String tenant, String hex, byte[] payload) {
        List<String> copies = replication.copy(hex, tenant, ByteBuffer.wrap(payload));
        // the entry first: an eviction right after the set must find it to record where the block went
        index.set(hex, new BlockLocation(Tier.TIER_HOST, "", tenant, payload.length, copies));
        blocks.set(hex, new StoredBlock(tenant, payload));
    }

    /**
     * After a departure or an arrival ({@link IndexSweep}): an entry this member owns whose block is
     * not where it says is restored from a copy, and a block whose copy went with a departed member,
     * or sits on this member since partitions moved, is copied again. False when no sound copy is
     * left: the entry then names nothing.
     */
    boolean restore(String hex, BlockLocation loc, Set<String> liveMembers) {
        if (loc.tier() == Tier.TIER_HOST && blocks.containsKey(hex)) {
            // a copy on a departed member, or on this one (partitions moved here): copy again
            boolean copyLost = !liveMembers.containsAll(loc.copies()) || loc.copies().contains(memberName);
            StoredBlock here = copyLost ? blocks.get(hex) : null;
            if (here != null && here.tenant().equals(loc.tenant())) {
                promote(loc.tenant(), hex, here.payload());
            }
            return true;
        }
        byte[] payload = replication.find(loc.tenant(), BlockKey.fromHex(hex), loc.copies());
        if (payload == null) {
            return false;
        }
        promote(loc.tenant(), hex, payload);
        return true;
    }

    /** A block on its way to this member's disk, or on it (a promoted block keeps its file). */
    private byte[] onThisMember(String tenant, BlockKey key) {
        StoredBlock inTransit = spills.inTransit(key.hex());
        if (inTransit != null && inTransit.tenant().equals(tenant)) {
            return inTransit.payload();
        }
        return ssd != null && ssd.contains(key) ? readSsd(memberName, key, tenant) : null;
    }

    /**
     * The index says host memory, where the block just was not: Hazelcast evicted it, and the
     * eviction event that hands it to the spill (on its owner, asynchronously) has not landed yet.
     * Found within moments on its way to disk, on disk, or back in memory; measured as a rare miss
     * under heavy promotion before this wait existed.
     */
    private byte[] inTransit(String tenant, BlockKey key) {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(1);
        while (System.nanoTime() < deadline) {
            byte[] payload = onThisMember(tenant, key);
            if (payload != null) {
                return payload;
            }
            StoredBlock back = blocks.get(key.hex());
            if (back != null) {
                return back.tenant().equals(tenant) ? back.payload() : null;
            }
            BlockLocation loc = index.get(key.hex());
            if (loc == null || !loc.tenant().equals(tenant)) {
                return null;
            }
            if (loc.tier() == Tier.TIER_SSD) {
                return readSsd(loc.member(), key, tenant);
            }
            try {
                Thread.sleep(2);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return null;
            }
        }
        return null;
    }

    private byte[] readSsd(String member, BlockKey key, String tenant) {
        if (member.equals(memberName)) {
            return ssd == null ? null : ssd.read(key).filter(h -> h.tenant().equals(tenant))
                    .map(SsdTier.Hit::payload).orElse(null);
        }
        return ReadOnMemberTask.readOn(hz, member, key, tenant, false);
    }

    /** The live member called {@code name}, or null. */
    static Member memberNamed(HazelcastInstance hz, String name) {
        for (Member m : hz.getCluster().getMembers()) {
            if (name.equals(nameOf(m))) {
                return m;
            }
        }
        return null;
    }

    static String nameOf(Member m) {
        return m.getAttribute(NAME_ATTRIBUTE);
    }

    private String ownerOf(String hex) {
        Member owner = hz.getPartitionService().getPartition(hex).getOwner();
        return owner == null ? "" : nameOf(owner);
    }

    public Map<String, Long> stats() {
        Map<String, Long> s = new HashMap<>();
        var local = blocks.getLocalMapStats();
        s.put("host_blocks", local.getOwnedEntryCount());
        s.put("host_bytes", local.getOwnedEntryMemoryCost());
        s.put("ssd_blocks", ssd == null ? 0L : ssd.blocks());
        s.put("ssd_bytes", ssd == null ? 0L : ssd.usedBytes());
        s.put("gets", metrics.gets.sum());
        s.put("hits", metrics.hits());
        s.put("ssd_hits", metrics.ssdHits.sum());
        s.put("puts", metrics.puts.sum());
        s.put("host_evictions", metrics.hostEvictions.sum());
        s.put("rejected", metrics.rejected.sum());
        s.put("cluster_blocks", (long) index.size());
        return s;
    }

    /** Whether this member's metrics name tenants (their bytes in the store); off by default. */
    public void labelTenants(boolean on) {
        metrics.tenantLabels = on;
    }

    /** Adds this member's {@code kvasir_kv_*} families to {@code registry} (its /metrics, or serve's). */
    public void registerMetrics(PrometheusRegistry registry) {
        metrics.register(registry, this);
    }

    KvStoreMetrics metrics() {
        return metrics;
    }

    /** Bytes the tenant holds in the store, cluster-wide, and its quota ({@link Long#MAX_VALUE}: none). */
    public long[] tenantUsage(String tenant) {
        return new long[] {quotas.used(tenant), quotas.quota(tenant)};
    }

    /** Bytes each tenant known to the cluster holds. */
    Map<String, Long> tenantBytes() {
        return quotas.all();
    }

    /** The live nodes' heartbeats, published through any member. */
    NodeDirectory nodes() {
        return nodes;
    }

    HazelcastInstance hazelcast() {
        return hz;
    }

    public String memberName() {
        return memberName;
    }

    private static void requireTenant(String tenant) throws StatusException {
        String problem = TenantNames.problem("tenant", tenant);
        if (problem != null) {
            throw invalid(problem);
        }
    }

    static StatusException invalid(String message) {
        return Status.INVALID_ARGUMENT.withDescription(message).asException();
    }
}
