package io.kvasir.router;

import java.util.concurrent.ConcurrentHashMap;
import java.util.logging.Level;
import java.util.logging.Logger;

import io.kvasir.kv.client.KvStoreClient;
import io.kvasir.kv.client.KvStoreException;
import io.kvasir.proto.kv.v1.StatsResponse;

/**
 * Refuses a request whose cache owner (tenant or shared namespace) holds so much of its KV-byte
 * quota in the store that not one more block fits: its new blocks could not be stored, and the
 * store stays the one place that counts. Asking the store for every request would add a round trip; each owner's figure is
 * reused for {@value #FRESH_MILLIS} ms, so a burst may overshoot by what that window admits. A
 * store that cannot answer admits the request: the quota protects other tenants' cache, it must
 * not take serving down with the store.
 */
public final class KvQuotaGate {
    static final long FRESH_MILLIS = 1000;
    /** How long a refused tenant should wait: its bytes fall as the store evicts its oldest blocks. */
    static final long RETRY_AFTER_MILLIS = 5000;
    private static final Logger LOG = Logger.getLogger(KvQuotaGate.class.getName());

    private record Usage(long bytes, long quota, long atMillis) {
    }

    private final KvStoreClient store;
    private final long blockBytes;
    private final ConcurrentHashMap<String, Usage> usage = new ConcurrentHashMap<>();

    /** {@code blockBytes}: what one block of this model takes in the store. */
    public KvQuotaGate(KvStoreClient store, long blockBytes) {
        this.store = store;
        this.blockBytes = blockBytes;
    }

    /** Null to admit, or why not. */
    TenantLimits.Refusal check(String cacheOwner) {
        long now = System.currentTimeMillis();
        Usage u = usage.get(cacheOwner);
        if (u == null || now - u.atMillis() > FRESH_MILLIS) {
            try {
                StatsResponse s = store.tenantUsage(cacheOwner);
                u = new Usage(s.getTenantBytes(), s.getTenantQuota(), now);
                usage.put(cacheOwner, u);
            } catch (KvStoreException | RuntimeException e) {
                LOG.log(Level.FINE, "KV usage of " + cacheOwner + " unknown; admitting", e);
                return null;
            }
        }
        if (u.quota() > 0 && u.quota() - u.bytes() < blockBytes) {
            return new TenantLimits.Refusal("'" + cacheOwner + "' holds " + u.bytes() + " bytes of KV in the store; its "
                    + "quota of " + u.quota() + " has no room for another block (" + blockBytes + " bytes)",
                    RETRY_AFTER_MILLIS);
        }
        return null;
    }
}
