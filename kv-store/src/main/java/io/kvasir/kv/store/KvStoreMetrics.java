package io.kvasir.kv.store;

import java.util.Map;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.Supplier;

import io.kvasir.telemetry.MetricFamilies;
import io.prometheus.metrics.core.metrics.CounterWithCallback;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.Labels;

/**
 * What one member counts, exported as {@code kvasir_kv_*}: blocks and bytes per tier, hits per
 * tier and misses, evictions per tier, and the bytes and seconds its data plane moved each way.
 * Every family is defined in {@link #register} and reads its figures when scraped.
 */
final class KvStoreMetrics {
    /** Whether {@code kvasir_kv_tenant_bytes} names tenants (off by default: /metrics takes no credential). */
    volatile boolean tenantLabels;
    final LongAdder gets = new LongAdder();
    final LongAdder hostHits = new LongAdder();
    final LongAdder ssdHits = new LongAdder();
    final LongAdder puts = new LongAdder();
    final LongAdder rejected = new LongAdder();
    /** Host → SSD (or dropped where there is no SSD tier). */
    final LongAdder hostEvictions = new LongAdder();
    /** Left the SSD tier: over its budget, or a file that failed its checksum. */
    final LongAdder ssdEvictions = new LongAdder();
    private final LongAdder putBytes = new LongAdder();
    private final LongAdder getBytes = new LongAdder();
    private final LongAdder putNanos = new LongAdder();
    private final LongAdder getNanos = new LongAdder();

    void transferred(boolean put, long bytes, long nanos) {
        (put ? putBytes : getBytes).add(bytes);
        (put ? putNanos : getNanos).add(nanos);
    }

    long hits() {
        return hostHits.sum() + ssdHits.sum();
    }

    /** Registers this member's families, labelled with its name. */
    void register(PrometheusRegistry registry, BlockStore store) {
        String m = store.memberName();
        Labels member = Labels.of("member", m);
        Supplier<Map<String, Long>> stats = recent(store::stats); // one read of the map's statistics per scrape
        GaugeWithCallback.builder().name("kvasir_kv_blocks").help("Blocks this member holds, by tier")
                .labelNames("member", "tier").callback(cb -> {
                    cb.call(stats.get().get("host_blocks"), m, "host");
                    cb.call(stats.get().get("ssd_blocks"), m, "ssd");
                }).register(registry);
        GaugeWithCallback.builder().name("kvasir_kv_bytes").help("Bytes this member holds, by tier")
                .labelNames("member", "tier").callback(cb -> {
                    cb.call(stats.get().get("host_bytes"), m, "host");
                    cb.call(stats.get().get("ssd_bytes"), m, "ssd");
                }).register(registry);
        MetricFamilies.gauge(registry, "kvasir_kv_cluster_blocks", "Blocks in the whole store (the index)", member,
                () -> stats.get().get("cluster_blocks"));
        MetricFamilies.counter(registry, "kvasir_kv_lookups", "Blocks asked for by get", member, gets::sum);
        CounterWithCallback.builder().name("kvasir_kv_hits").help("Blocks found, by the tier they came from")
                .labelNames("member", "tier").callback(cb -> {
                    cb.call(hostHits.sum(), m, "host");
                    cb.call(ssdHits.sum(), m, "ssd");
                }).register(registry);
        MetricFamilies.counter(registry, "kvasir_kv_misses", "Blocks asked for and not found", member,
                () -> Math.max(0, gets.sum() - hits()));
        MetricFamilies.counter(registry, "kvasir_kv_puts", "Blocks stored", member, puts::sum);
        MetricFamilies.counter(registry, "kvasir_kv_rejected", "Blocks refused (invalid, oversized, over quota)", member,
                rejected::sum);
        CounterWithCallback.builder().name("kvasir_kv_evictions").help("Blocks that left a tier for lack of room")
                .labelNames("member", "tier").callback(cb -> {
                    cb.call(hostEvictions.sum(), m, "host");
                    cb.call(ssdEvictions.sum(), m, "ssd");
                }).register(registry);
        CounterWithCallback.builder().name("kvasir_kv_transfer_bytes").help("Payload bytes moved by the gRPC data plane")
                .labelNames("member", "direction").callback(cb -> {
                    cb.call(putBytes.sum(), m, "put");
                    cb.call(getBytes.sum(), m, "get");
                }).register(registry);
        CounterWithCallback.builder().name("kvasir_kv_transfer_seconds").help("Seconds spent in data-plane streams")
                .labelNames("member", "direction").callback(cb -> {
                    cb.call(putNanos.sum() / 1e9, m, "put");
                    cb.call(getNanos.sum() / 1e9, m, "get");
                }).register(registry);
        GaugeWithCallback.builder().name("kvasir_kv_tenant_bytes")
                .help("Bytes each tenant holds in the store (cluster-wide); with --metrics-tenants only")
                .labelNames("tenant").callback(cb -> {
                    if (tenantLabels) {
                        store.tenantBytes().forEach((tenant, bytes) -> cb.call(bytes, tenant));
                    }
                }).register(registry);
    }

    /** {@code read}, called at most once a second: the families of one scrape share one reading. */
    private static Supplier<Map<String, Long>> recent(Supplier<Map<String, Long>> read) {
        return new Supplier<>() {
            private Map<String, Long> last;
            private long at;

            @Override
            public synchronized Map<String, Long> get() {
                if (last == null || System.nanoTime() - at > 1_000_000_000L) {
                    last = read.get();
                    at = System.nanoTime();
                }
                return last;
            }
        };
    }
}
