package io.kvasir.kv.store;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.logging.Level;
import java.util.logging.Logger;

import com.hazelcast.cluster.Member;
import com.hazelcast.cluster.MembershipEvent;
import com.hazelcast.cluster.MembershipListener;
import com.hazelcast.core.HazelcastInstance;
import com.hazelcast.core.HazelcastInstanceAware;
import com.hazelcast.map.IMap;
import com.hazelcast.nio.ObjectDataInput;
import com.hazelcast.nio.ObjectDataOutput;
import com.hazelcast.nio.serialization.IdentifiedDataSerializable;

import io.kvasir.proto.kv.v1.Tier;

/**
 * When a member leaves, the index may name blocks that went with it: the host blocks of the
 * partitions it owned, blocks on its SSD, and the copies it held for others. So once the partitions
 * have settled after a departure (or an arrival, which moves partitions and may land a block on the
 * member holding its copy), each member goes through the entries it owns: a block still copied
 * elsewhere is restored (back into host memory, with new copies), a block whose copy left or sits
 * on its owner gets a new one, and an entry that points at nothing is dropped. Left standing, lookups would
 * report it cached (the router would skip a prefill for blocks a get then misses) and tenants' byte
 * counts would keep charging it (a tenant could stay refused by its quota for good). The oldest
 * member then recounts every tenant's bytes from the index. A member that comes back re-announces
 * its SSD blocks as it starts.
 */
final class IndexSweep implements MembershipListener, AutoCloseable {
    private static final Logger LOG = Logger.getLogger(IndexSweep.class.getName());
    /** How long a departure waits for more (a rolling restart takes several) before the sweep. */
    private static final long SETTLE_MILLIS = 2000;
    /** Before an entry naming host memory is dropped, it is checked again: an eviction on its way to the SSD looks the same for a moment. */
    private static final long RECHECK_MILLIS = 1000;

    private final BlockStore store;
    private final HazelcastInstance hz;
    private final IMap<String, BlockLocation> index;
    private final ScheduledExecutorService runner = Executors.newSingleThreadScheduledExecutor(
            Thread.ofPlatform().daemon().name("kv-index-sweep").factory());
    private ScheduledFuture<?> pending;
    /** Whether the pending sweep follows a departure, and so recounts tenants' bytes. */
    private boolean recountPending;
    private volatile int sweeps;

    IndexSweep(BlockStore store) {
        this.store = store;
        this.hz = store.hazelcast();
        this.index = hz.getMap(BlockStore.INDEX);
        hz.getCluster().addMembershipListener(this);
    }

    @Override
    public void memberRemoved(MembershipEvent event) {
        schedule(true);
    }

    /** An arrival moves partitions here, and with them blocks whose copy this member holds. */
    @Override
    public void memberAdded(MembershipEvent event) {
        schedule(false);
    }

    private synchronized void schedule(boolean departure) {
        recountPending |= departure;
        if (pending != null) {
            pending.cancel(false);
        }
        pending = runner.schedule(this::sweep, SETTLE_MILLIS, TimeUnit.MILLISECONDS);
    }

    /** Sweeps done so far (tests wait on it). */
    int sweeps() {
        return sweeps;
    }

    /**
     * Tenants' bytes are recounted only after a departure, whose blocks' bytes left the counts: the
     * counts converge a moment after each put, so a recount while puts run can only be off.
     */
    private void sweep() {
        boolean recount;
        synchronized (this) {
            recount = recountPending;
            recountPending = false;
        }
        try {
            for (int i = 0; i < 300 && !hz.getPartitionService().isClusterSafe(); i++) {
                Thread.sleep(100); // partitions are still moving: what is local is not settled yet
            }
            Map<String, BlockLocation> stale = staleLocalEntries();
            if (!stale.isEmpty()) {
                Thread.sleep(RECHECK_MILLIS);
                int dropped = 0;
                Map<String, BlockLocation> still = staleLocalEntries();
                for (var e : stale.entrySet()) {
                    if (e.getValue().equals(still.get(e.getKey())) && index.remove(e.getKey(), e.getValue())) {
                        dropped++;
                    }
                }
                LOG.info("index sweep: dropped " + dropped + " entries for blocks that left with a member");
            }
            if (recount && oldest()) {
                recountTenantBytes();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (RuntimeException e) {
            LOG.log(Level.WARNING, "index sweep failed; the next departure sweeps again", e);
        } finally {
            sweeps++;
        }
    }

    /**
     * This member's index entries naming an SSD of a member no longer here, or host memory that lacks
     * the block, and that no copy can restore. Entries whose copies went with a departed member get
     * new copies on the way.
     */
    private Map<String, BlockLocation> staleLocalEntries() {
        Set<String> live = new HashSet<>();
        for (Member m : hz.getCluster().getMembers()) {
            live.add(BlockStore.nameOf(m));
        }
        Map<String, BlockLocation> out = new HashMap<>();
        for (var entry : index.getAll(index.localKeySet()).entrySet()) {
            String hex = entry.getKey();
            BlockLocation loc = entry.getValue();
            boolean check = loc.tier() == Tier.TIER_SSD ? !live.contains(loc.member())
                    : loc.tier() == Tier.TIER_HOST && !store.spills().spilling(hex);
            if (check && !store.restore(hex, loc, live)) {
                out.put(hex, loc);
            }
        }
        return out;
    }

    private boolean oldest() {
        return hz.getCluster().getMembers().iterator().next().localMember();
    }

    /** Every tenant's bytes, summed over every member's share of the index, replace the running counts. */
    private void recountTenantBytes() throws InterruptedException {
        Map<String, Long> total = new HashMap<>();
        for (Future<HashMap<String, Long>> f : hz.getExecutorService("kv-index-sweep")
                .submitToAllMembers(new LocalTenantBytes()).values()) {
            try {
                f.get(60, TimeUnit.SECONDS).forEach((tenant, bytes) -> total.merge(tenant, bytes, Long::sum));
            } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
                LOG.log(Level.WARNING, "a member did not report its tenants' bytes; recounting later", e);
                return;
            }
        }
        List<String> tenants = new ArrayList<>(store.tenantBytes().keySet());
        tenants.addAll(total.keySet());
        for (String tenant : new HashSet<>(tenants)) {
            store.correctTenantBytes(tenant, total.getOrDefault(tenant, 0L));
        }
    }

    @Override
    public void close() {
        runner.shutdownNow();
    }

    /** Runs on every member: the bytes of each tenant's blocks in the index entries it owns. */
    static final class LocalTenantBytes implements Callable<HashMap<String, Long>>, IdentifiedDataSerializable,
            HazelcastInstanceAware {
        private transient HazelcastInstance hz;

        @Override
        public void setHazelcastInstance(HazelcastInstance hz) {
            this.hz = hz;
        }

        @Override
        public HashMap<String, Long> call() {
            IMap<String, BlockLocation> index = hz.getMap(BlockStore.INDEX);
            HashMap<String, Long> out = new HashMap<>();
            for (BlockLocation loc : index.getAll(index.localKeySet()).values()) {
                out.merge(loc.tenant(), loc.bytes(), Long::sum);
            }
            return out;
        }

        @Override
        public int getFactoryId() {
            return KvSerialization.FACTORY_ID;
        }

        @Override
        public int getClassId() {
            return KvSerialization.LOCAL_TENANT_BYTES;
        }

        @Override
        public void writeData(ObjectDataOutput out) {
        }

        @Override
        public void readData(ObjectDataInput in) {
        }
    }
}
