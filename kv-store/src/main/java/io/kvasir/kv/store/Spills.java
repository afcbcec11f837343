package io.kvasir.kv.store;

import java.io.IOException;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.logging.Level;
import java.util.logging.Logger;

import com.hazelcast.map.IMap;

import io.kvasir.kv.block.BlockKey;
import io.kvasir.proto.kv.v1.Tier;

/**
 * Blocks leaving a member's host memory: Hazelcast evicts a block on its owner, the member writes it
 * to its SSD tier (or, without one, drops it from the index), and readers find it here until then.
 * The index and the tenants' byte counts follow each move, and a restart re-announces the disk.
 */
final class Spills {
    private static final Logger LOG = Logger.getLogger(Spills.class.getName());

    private final IMap<String, BlockLocation> index;
    private final TenantQuotas quotas;
    /** This member's SSD tier, or null. */
    private final SsdTier ssd;
    private final String memberName;
    private final KvStoreMetrics metrics;
    /** Evicted blocks not yet on disk, by key. */
    private final ConcurrentHashMap<String, StoredBlock> spilling = new ConcurrentHashMap<>();

    Spills(IMap<String, BlockLocation> index, TenantQuotas quotas, SsdTier ssd, String memberName,
            KvStoreMetrics metrics) {
        this.index = index;
        this.quotas = quotas;
        this.ssd = ssd;
        this.memberName = memberName;
        this.metrics = metrics;
    }

    /**
     * Hazelcast evicted a block on this member (its partition owner). Until {@link #spill} has
     * written it, readers find it here, so a block is never missing merely for being in transit.
     */
    void evicted(String hex, StoredBlock block) {
        if (block != null) {
            spilling.put(hex, block);
        }
    }

    /** Host → SSD, on the spill thread. */
    void spill(String hex) {
        StoredBlock block = spilling.get(hex);
        if (block == null) {
            return;
        }
        metrics.hostEvictions.increment();
        try {
            // the entry may not be written yet (a block can be evicted while its put runs)
            BlockLocation entry = index.get(hex);
            List<String> copies = entry != null && entry.tenant().equals(block.tenant()) ? entry.copies() : List.of();
            if (ssd != null) {
                try {
                    ssd.write(BlockKey.fromHex(hex), block.tenant(), block.payload());
                    index.set(hex, new BlockLocation(Tier.TIER_SSD, memberName, block.tenant(),
                            block.payload().length, copies));
                    return;
                } catch (IOException | RuntimeException e) {
                    LOG.log(Level.WARNING, "cannot write block " + hex + " to the SSD tier; dropping it", e);
                }
            }
            if (entry != null && entry.tier() == Tier.TIER_HOST && entry.tenant().equals(block.tenant())
                    && index.remove(hex, entry)) {
                quotas.add(block.tenant(), -block.payload().length);
            }
        } finally {
            spilling.remove(hex, block);
        }
    }

    /** A block left this member's SSD tier (budget or corruption): forget it unless it is back in host memory. */
    void leftSsd(BlockKey key, String tenant, long bytes) {
        metrics.ssdEvictions.increment();
        BlockLocation entry = index.get(key.hex());
        if (entry != null && entry.tier() == Tier.TIER_SSD && entry.member().equals(memberName)
                && entry.tenant().equals(tenant) && index.remove(key.hex(), entry)) {
            quotas.add(tenant, -bytes);
        }
    }

    /** Whether a block Hazelcast evicted here is still on its way to this member's SSD. */
    boolean spilling(String hex) {
        return spilling.containsKey(hex);
    }

    /** After a restart: re-announce blocks found on this member's SSD. */
    void announceSsd(List<SsdTier.Entry> entries) {
        for (SsdTier.Entry e : entries) {
            if (index.putIfAbsent(e.key().hex(), new BlockLocation(Tier.TIER_SSD, memberName, e.tenant(), e.bytes()))
                    == null) {
                quotas.add(e.tenant(), e.bytes());
            }
        }
    }

    /** A block evicted here and not yet on disk, or null. */
    StoredBlock inTransit(String hex) {
        return spilling.get(hex);
    }
}
