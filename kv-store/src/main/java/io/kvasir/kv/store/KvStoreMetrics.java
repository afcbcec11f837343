package io.kvasir.kv.store;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.atomic.LongAdder;

import io.kvasir.kv.metrics.PrometheusText;

/**
 * What one member counts, exported as {@code kvasir_kv_*}: blocks and bytes per tier, hits per
 * tier and misses, evictions per tier, and the bytes and seconds its data plane moved each way.
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

    String render(BlockStore store) {
        Map<String, Long> s = store.stats();
        String member = PrometheusText.labels("member", store.memberName());
        String m = member.substring(0, member.length() - 1);
        PrometheusText out = new PrometheusText();
        out.family("kvasir_kv_blocks", "Blocks this member holds, by tier", "gauge")
                .sample("kvasir_kv_blocks", m + ",tier=\"host\"}", s.get("host_blocks"))
                .sample("kvasir_kv_blocks", m + ",tier=\"ssd\"}", s.get("ssd_blocks"));
        out.family("kvasir_kv_bytes", "Bytes this member holds, by tier", "gauge")
                .sample("kvasir_kv_bytes", m + ",tier=\"host\"}", s.get("host_bytes"))
                .sample("kvasir_kv_bytes", m + ",tier=\"ssd\"}", s.get("ssd_bytes"));
        out.gauge("kvasir_kv_cluster_blocks", "Blocks in the whole store (the index)", member, s.get("cluster_blocks"));
        out.counter("kvasir_kv_lookups_total", "Blocks asked for by get", member, gets.sum());
        out.family("kvasir_kv_hits_total", "Blocks found, by the tier they came from", "counter")
                .sample("kvasir_kv_hits_total", m + ",tier=\"host\"}", hostHits.sum())
                .sample("kvasir_kv_hits_total", m + ",tier=\"ssd\"}", ssdHits.sum());
        out.counter("kvasir_kv_misses_total", "Blocks asked for and not found", member, gets.sum() - hits());
        out.counter("kvasir_kv_puts_total", "Blocks stored", member, puts.sum());
        out.counter("kvasir_kv_rejected_total", "Blocks refused (invalid, oversized, over quota)", member, rejected.sum());
        out.family("kvasir_kv_evictions_total", "Blocks that left a tier for lack of room", "counter")
                .sample("kvasir_kv_evictions_total", m + ",tier=\"host\"}", hostEvictions.sum())
                .sample("kvasir_kv_evictions_total", m + ",tier=\"ssd\"}", ssdEvictions.sum());
        out.family("kvasir_kv_transfer_bytes_total", "Payload bytes moved by the gRPC data plane", "counter")
                .sample("kvasir_kv_transfer_bytes_total", m + ",direction=\"put\"}", putBytes.sum())
                .sample("kvasir_kv_transfer_bytes_total", m + ",direction=\"get\"}", getBytes.sum());
        out.family("kvasir_kv_transfer_seconds_total", "Seconds spent in data-plane streams", "counter")
                .sample("kvasir_kv_transfer_seconds_total", m + ",direction=\"put\"}", putNanos.sum() / 1e9)
                .sample("kvasir_kv_transfer_seconds_total", m + ",direction=\"get\"}", getNanos.sum() / 1e9);
        if (tenantLabels) {
            out.labelled("kvasir_kv_tenant_bytes", "Bytes each tenant holds in the store (cluster-wide)", "gauge",
                    "tenant", new LinkedHashMap<>(store.tenantBytes()));
        }
        return out.toString();
    }
}
