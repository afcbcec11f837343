package io.kvasir.kv.store;

import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.ToLongFunction;

import com.hazelcast.core.DistributedObject;
import com.hazelcast.core.HazelcastInstance;
import com.hazelcast.crdt.pncounter.PNCounter;

/**
 * Bytes each tenant holds in the store (host or SSD), counted cluster-wide in a Hazelcast PN
 * counter per tenant: a CRDT whose replicas live on every member, so charging a put costs no
 * network round trip. The count converges within the replication period (1 s by default), so a
 * burst of puts may overshoot a quota by what lands in that window; a quota here is a cap on what
 * a tenant can take from others, not an exact bill.
 */
final class TenantQuotas {
    private static final String PREFIX = "kv-tenant-bytes.";

    private final HazelcastInstance hz;
    private final ToLongFunction<String> quotaOf;
    private final ConcurrentHashMap<String, PNCounter> counters = new ConcurrentHashMap<>();

    TenantQuotas(HazelcastInstance hz, ToLongFunction<String> quotaOf) {
        this.hz = hz;
        this.quotaOf = quotaOf;
    }

    /** Whether {@code bytes} more fit within the tenant's quota. */
    boolean fits(String tenant, long bytes) {
        long quota = quotaOf.applyAsLong(tenant);
        return quota == Long.MAX_VALUE || used(tenant) + bytes <= quota;
    }

    long used(String tenant) {
        return counter(tenant).get();
    }

    long quota(String tenant) {
        return quotaOf.applyAsLong(tenant);
    }

    void add(String tenant, long delta) {
        counter(tenant).addAndGet(delta);
    }

    /** Every tenant with a counter anywhere in the cluster, and its bytes. */
    Map<String, Long> all() {
        Map<String, Long> out = new TreeMap<>();
        for (DistributedObject o : hz.getDistributedObjects()) {
            if (o instanceof PNCounter c && c.getName().startsWith(PREFIX)) {
                out.put(c.getName().substring(PREFIX.length()), c.get());
            }
        }
        return out;
    }

    private PNCounter counter(String tenant) {
        return counters.computeIfAbsent(tenant, t -> hz.getPNCounter(PREFIX + t));
    }
}
