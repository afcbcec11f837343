package io.kvasir.router;

import java.time.InstantSource;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Per-tenant admission at the router: requests in flight, and tokens (prompt and generated) per
 * rolling minute, and (with a {@link KvQuotaGate}) KV bytes in the store. Over any, a request is
 * refused at once with a retry hint instead of queueing behind the tenant's own flood, so other
 * tenants keep their latency. {@code 0} = unlimited.
 *
 * <p>Limits are this router's: behind several routers each enforces its own share (the Helm chart
 * divides the cluster-wide values by the router replicas). Each check and its count are one atomic
 * step, so concurrent requests cannot pass a limit together; a tenant leaves the tables once it has
 * nothing in flight and no tokens in the last minute, so tenant names cannot grow them without end.
 */
public final class TenantLimits {
    /** What {@link #admit} answers: a {@link Permit} or a {@link Refusal}. */
    public sealed interface Admission permits Permit, Refusal {
    }

    /** Why a request was refused, and when trying again makes sense. */
    public record Refusal(String reason, long retryAfterMillis) implements Admission {
    }

    /** An admitted request's place; {@link #release} gives it back once, however often it is called. */
    public final class Permit implements Admission {
        private final String tenant;
        private final AtomicBoolean released = new AtomicBoolean();

        private Permit(String tenant) {
            this.tenant = tenant;
        }

        /** The request ended, having generated {@code completionTokens}; later calls do nothing. */
        public void release(int completionTokens) {
            if (released.compareAndSet(false, true)) {
                TenantLimits.this.release(tenant, completionTokens);
            }
        }
    }

    /** Tenants with idle minutes are swept from the table once it holds more than this many. */
    private static final int SWEEP_ABOVE = 1024;

    private final int maxConcurrent;
    private final long tokensPerMinute;
    private final ConcurrentHashMap<String, Integer> inFlight = new ConcurrentHashMap<>();
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
    public Admission admit(String tenant, String cacheOwner, int promptTokens) {
        KvQuotaGate gate = kvQuota;
        if (gate != null) {
            Refusal full = gate.check(cacheOwner);
            if (full != null) {
                return full;
            }
        }
        boolean[] room = {false};
        inFlight.compute(tenant, (t, n) -> {
            int running = n == null ? 0 : n;
            room[0] = maxConcurrent <= 0 || running < maxConcurrent;
            return room[0] ? running + 1 : n;
        });
        if (!room[0]) {
            return new Refusal("tenant '" + tenant + "' has " + maxConcurrent + " requests in flight, its limit", 500);
        }
        if (tokensPerMinute > 0) {
            sweepIdleMinutes();
            long[] used = {-1};
            minutes.compute(tenant, (t, m) -> {
                Minute minute = m == null ? new Minute(clock) : m;
                used[0] = minute.addWithin(promptTokens, tokensPerMinute);
                return minute;
            });
            if (used[0] >= 0) {
                leave(tenant);
                return new Refusal("tenant '" + tenant + "' used " + used[0] + " of its " + tokensPerMinute
                        + " tokens per minute", 1000);
            }
        }
        return new Permit(tenant);
    }

    private void release(String tenant, int completionTokens) {
        leave(tenant);
        if (tokensPerMinute > 0) {
            minutes.compute(tenant, (t, m) -> {
                Minute minute = m == null ? new Minute(clock) : m;
                minute.add(completionTokens);
                return minute;
            });
        }
    }

    private void leave(String tenant) {
        inFlight.computeIfPresent(tenant, (t, n) -> n <= 1 ? null : n - 1);
    }

    private void sweepIdleMinutes() {
        if (minutes.size() > SWEEP_ABOVE) {
            for (String tenant : minutes.keySet()) {
                minutes.computeIfPresent(tenant, (t, m) -> m.idle() ? null : m); // atomic with the tenant's adds
            }
        }
    }

    /** Requests {@code tenant} has in flight here. */
    int inFlight(String tenant) {
        return inFlight.getOrDefault(tenant, 0);
    }

    /** Tenants this router keeps counts for (bounded: idle tenants leave). */
    int trackedTenants() {
        return Math.max(inFlight.size(), minutes.size());
    }

    /** Tokens per second over the last 60 seconds, in a ring of per-second slots. */
    private static final class Minute {
        private final long[] slots = new long[60];
        private final long[] stamps = new long[60];
        private final InstantSource clock;

        Minute(InstantSource clock) {
            this.clock = clock;
        }

        synchronized void add(long tokens) {
            long second = clock.millis() / 1000;
            int i = (int) (second % 60);
            if (stamps[i] != second) {
                stamps[i] = second;
                slots[i] = 0;
            }
            slots[i] += tokens;
        }

        /** Adds {@code tokens} if the minute stays within {@code limit} and answers -1; else the tokens used, adding none. */
        synchronized long addWithin(long tokens, long limit) {
            long used = used();
            if (used + tokens > limit) {
                return used;
            }
            add(tokens);
            return -1;
        }

        synchronized boolean idle() {
            return used() == 0;
        }

        private long used() {
            long second = clock.millis() / 1000, sum = 0;
            for (int i = 0; i < 60; i++) {
                if (second - stamps[i] < 60) {
                    sum += slots[i];
                }
            }
            return sum;
        }
    }
}
