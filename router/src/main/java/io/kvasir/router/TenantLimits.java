package io.kvasir.router;

import java.time.InstantSource;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * Per-tenant admission at the router: requests in flight, and tokens (prompt and generated) per
 * rolling minute, and (with a {@link KvQuotaGate}) KV bytes in the store. Over any, a request is refused at once with a retry hint instead of queueing
 * behind the tenant's own flood, so other tenants keep their latency. {@code 0} = unlimited.
 */
public final class TenantLimits {
    /** Why a request was refused, and when trying again makes sense. */
    public record Refusal(String reason, long retryAfterMillis) {
    }

    private final int maxConcurrent;
    private final long tokensPerMinute;
    private final ConcurrentHashMap<String, AtomicInteger> inFlight = new ConcurrentHashMap<>();
    private final ConcurrentHashMap<String, Minute> minutes = new ConcurrentHashMap<>();
    private final InstantSource clock;
    private volatile KvQuotaGate kvQuota;

    public TenantLimits(int maxConcurrent, long tokensPerMinute) {
        this(maxConcurrent, tokensPerMinute, InstantSource.system());
    }

    /** {@code clock}: what the rolling minute is measured by. */
    public TenantLimits(int maxConcurrent, long tokensPerMinute, InstantSource clock) {
        this.maxConcurrent = maxConcurrent;
        this.tokensPerMinute = tokensPerMinute;
        this.clock = clock;
    }

    public static TenantLimits none() {
        return new TenantLimits(0, 0);
    }

    /** Also refuse tenants (or shared namespaces) that hold their whole KV-byte quota in the store. */
    public TenantLimits withKvQuota(KvQuotaGate gate) {
        this.kvQuota = gate;
        return this;
    }

    /**
     * Admits a request (counting its prompt tokens) whose blocks belong to {@code cacheOwner} (the
     * tenant or a shared namespace), or says why not.
     */
    public Refusal admit(String tenant, String cacheOwner, int promptTokens) {
        KvQuotaGate gate = kvQuota;
        if (gate != null) {
            Refusal full = gate.check(cacheOwner);
            if (full != null) {
                return full;
            }
        }
        if (tokensPerMinute > 0) {
            long used = minutes.computeIfAbsent(tenant, t -> new Minute(clock)).used();
            if (used + promptTokens > tokensPerMinute) {
                return new Refusal("tenant '" + tenant + "' used " + used + " of its " + tokensPerMinute
                        + " tokens per minute", 1000);
            }
        }
        AtomicInteger n = inFlight.computeIfAbsent(tenant, t -> new AtomicInteger());
        if (maxConcurrent > 0 && n.incrementAndGet() > maxConcurrent) {
            n.decrementAndGet();
            return new Refusal("tenant '" + tenant + "' has " + maxConcurrent + " requests in flight, its limit", 500);
        } else if (maxConcurrent <= 0) {
            n.incrementAndGet();
        }
        if (tokensPerMinute > 0) {
            minutes.get(tenant).add(promptTokens);
        }
        return null;
    }

    /** A request admitted earlier ended, having generated {@code completionTokens}. */
    public void release(String tenant, int completionTokens) {
        AtomicInteger n = inFlight.get(tenant);
        if (n != null) {
            n.decrementAndGet();
        }
        if (tokensPerMinute > 0) {
            minutes.computeIfAbsent(tenant, t -> new Minute(clock)).add(completionTokens);
        }
    }

    /** Tokens per second over the last 60 seconds, in a ring of per-second slots. */
    private static final class Minute {
        private final AtomicLongArray slots = new AtomicLongArray(60);
        private final AtomicLongArray stamps = new AtomicLongArray(60);
        private final InstantSource clock;

        Minute(InstantSource clock) {
            this.clock = clock;
        }

        void add(long tokens) {
            long second = clock.millis() / 1000;
            int i = (int) (second % 60);
            if (stamps.getAndSet(i, second) != second) {
                slots.set(i, 0);
            }
            slots.addAndGet(i, tokens);
        }

        long used() {
            long second = clock.millis() / 1000, sum = 0;
            for (int i = 0; i < 60; i++) {
                if (second - stamps.get(i) < 60) {
                    sum += slots.get(i);
                }
            }
            return sum;
        }
    }
}
