package io.kvasir.router;

import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;

import io.kvasir.kv.metrics.LatencyHistogram;
import io.kvasir.kv.metrics.PrometheusText;

/**
 * The router's metrics in Prometheus' text format, under vLLM's names where vLLM has one (so its
 * Grafana dashboards work unchanged) and {@code kvasir_} otherwise. Engine-side figures (waiting
 * sequences, KV usage) come from the decode nodes' heartbeats, summed over the pool, so one scrape
 * of the router shows the whole cluster as one vLLM server would show itself.
 */
public final class RouterMetrics {
    private final String model;
    private final LatencyHistogram ttft = new LatencyHistogram("vllm:time_to_first_token_seconds", "Time to first token");
    private final LatencyHistogram itl = new LatencyHistogram("vllm:inter_token_latency_seconds",
            "Time between streamed tokens");
    private final LatencyHistogram e2e = new LatencyHistogram("vllm:e2e_request_latency_seconds",
            "Request latency, end to end");
    private final LatencyHistogram queue = new LatencyHistogram("vllm:request_queue_time_seconds",
            "Time a request waited on its decode node before it was admitted");
    private final AtomicLong promptTokens = new AtomicLong();
    private final AtomicLong generationTokens = new AtomicLong();
    private final AtomicLong prefixQueries = new AtomicLong();
    private final AtomicLong prefixHits = new AtomicLong();
    private final AtomicLong running = new AtomicLong();
    private final Map<String, AtomicLong> finished = new ConcurrentHashMap<>();
    private final Map<String, AtomicLong> refused = new ConcurrentHashMap<>();
    /** By gRPC status code (a fixed set of names). */
    private final Map<String, AtomicLong> errors = new ConcurrentHashMap<>();
    private static final String[] SOURCES = {"computed", "local", "host", "ssd"};
    private final AtomicLong[] bySource = {new AtomicLong(), new AtomicLong(), new AtomicLong(), new AtomicLong()};
    private final Map<String, AtomicLong[]> perTenant = new ConcurrentHashMap<>();
    /** Tenants with series of their own; the rest are counted together. */
    static final int MAX_TENANT_SERIES = 1000;
    /** The label of tenants beyond {@link #MAX_TENANT_SERIES} (not a valid tenant name, so never a real one's). */
    static final String OTHER_TENANTS = "(other)";
    private volatile NodeLoads nodes;
    private volatile Supplier<String> extra = () -> "";
    private volatile boolean tenantLabels;

    public RouterMetrics(String model) {
        this.model = model;
    }

    /**
     * Whether the per-tenant families ({@code kvasir_tenant_*}) are exported. Off by default:
     * {@code /metrics} takes no credential, and tenant names are not for everyone who can reach it.
     */
    public RouterMetrics labelTenants(boolean on) {
        this.tenantLabels = on;
        return this;
    }

    /** Reports the decode nodes' own heartbeat figures too. */
    public void watch(NodeLoads loads) {
        this.nodes = loads;
    }

    /**
     * Appends other families to every scrape: {@code serve} adds its embedded store member's
     * {@code kvasir_kv_*} (names no other role uses, so one exposition stays valid).
     */
    public void include(Supplier<String> more) {
        this.extra = more;
    }

    void started() {
        running.incrementAndGet();
    }

    void firstToken(double seconds) {
        ttft.observe(seconds);
    }

    void interToken(double seconds) {
        itl.observe(seconds);
    }

    void queued(double seconds) {
        queue.observe(seconds);
    }

    void refused(String tenant) {
        refused.computeIfAbsent(series(refused, tenant), t -> new AtomicLong()).incrementAndGet();
    }

    /**
     * The label a tenant's counts go under: its name, or {@link #OTHER_TENANTS} once {@code table}
     * holds {@link #MAX_TENANT_SERIES} (counters cannot be dropped, so tenant names must not grow them).
     */
    private static String series(Map<String, ?> table, String tenant) {
        return table.containsKey(tenant) || table.size() < MAX_TENANT_SERIES ? tenant : OTHER_TENANTS;
    }

    void finished(String tenant, String reason, double seconds, int prompt, int cached, int completion) {
        running.decrementAndGet();
        e2e.observe(seconds);
        promptTokens.addAndGet(prompt);
        generationTokens.addAndGet(completion);
        prefixQueries.addAndGet(prompt);
        prefixHits.addAndGet(cached);
        finished.computeIfAbsent(reason, r -> new AtomicLong()).incrementAndGet();
        AtomicLong[] t = perTenant.computeIfAbsent(series(perTenant, tenant), x -> new AtomicLong[] {new AtomicLong(),
                new AtomicLong(), new AtomicLong(), new AtomicLong()});
        t[0].incrementAndGet();
        t[1].addAndGet(prompt);
        t[2].addAndGet(cached);
        t[3].addAndGet(completion);
    }

    /** A started request ended in an error with gRPC status {@code code}. */
    void failed(String code) {
        running.decrementAndGet();
        error(code);
    }

    /** A request was answered with gRPC status {@code code} (started or refused before it started). */
    void error(String code) {
        errors.computeIfAbsent(code, c -> new AtomicLong()).incrementAndGet();
    }

    /**
     * Where a finished request's prompt tokens came from: computed, or cached in the decode node's
     * own pool, the store's host memory or its SSD.
     */
    void promptSources(int computed, int local, int host, int ssd) {
        bySource[0].addAndGet(computed);
        bySource[1].addAndGet(local);
        bySource[2].addAndGet(host);
        bySource[3].addAndGet(ssd);
    }

    /** The Prometheus text exposition. */
    public String render() {
        String m = PrometheusText.labels("model_name", model);
        PrometheusText out = new PrometheusText()
                .gauge("vllm:num_requests_running", "Requests in flight through this router", m, running.get());
        NodeLoads watched = nodes;
        if (watched != null) {
            long waiting = 0, free = 0, total = 0;
            for (NodeLoads.Load load : watched.all().values()) {
                waiting += load.waiting();
                free += load.freeBlocks();
                total += load.totalBlocks();
            }
            out.gauge("vllm:num_requests_waiting", "Sequences waiting for room on the decode nodes", m, waiting)
                    .gauge("vllm:kv_cache_usage_perc", "Fraction of the decode nodes' KV blocks reserved by sequences", m,
                            total == 0 ? 0 : 1.0 - (double) free / total);
        }
        out.counter("vllm:prompt_tokens_total", "Prompt tokens", m, promptTokens.get())
                .counter("vllm:generation_tokens_total", "Generated tokens", m, generationTokens.get())
                .counter("vllm:prefix_cache_queries_total", "Prompt tokens looked up in the KV cache", m, prefixQueries.get())
                .counter("vllm:prefix_cache_hits_total", "Prompt tokens found in the KV cache", m, prefixHits.get());
        out.family("vllm:request_success_total", "Finished requests, by reason", "counter");
        finished.forEach((reason, n) -> out.sample("vllm:request_success_total", "{model_name=\"" + model
                + "\",finished_reason=\"" + reason + "\"}", n.get()));
        out.histogram(ttft, m).histogram(itl, m).histogram(e2e, m).histogram(queue, m);
        out.family("kvasir_prompt_tokens_by_source_total", "Prompt tokens of finished requests, by where their KV "
                + "came from: computed, or cached in the decode node's pool (local), the store's memory (host) or SSD",
                "counter");
        for (int i = 0; i < SOURCES.length; i++) {
            out.sample("kvasir_prompt_tokens_by_source_total", m.substring(0, m.length() - 1) + ",source=\"" + SOURCES[i]
                    + "\"}", bySource[i].get());
        }
        out.family("kvasir_request_errors_total", "Requests answered with an error, by gRPC status code", "counter");
        new TreeMap<>(errors).forEach((code, n) -> out.sample("kvasir_request_errors_total",
                m.substring(0, m.length() - 1) + ",code=\"" + code + "\"}", n.get()));
        if (watched != null) {
            Map<String, Integer> sequences = new TreeMap<>();
            Map<String, Long> freeBlocks = new TreeMap<>();
            watched.all().forEach((node, load) -> {
                sequences.put(node, load.sequences());
                freeBlocks.put(node, load.freeBlocks());
            });
            out.labelled("kvasir_node_sequences", "Sequences running or waiting on a decode node (its heartbeat)",
                    "gauge", "node", sequences);
            out.labelled("kvasir_node_free_kv_blocks", "Free KV blocks on a decode node (its heartbeat)", "gauge", "node",
                    freeBlocks);
        }
        if (!tenantLabels) {
            return out + extra.get();
        }
        String[] names = {"kvasir_tenant_requests_total", "kvasir_tenant_prompt_tokens_total",
            "kvasir_tenant_cached_prompt_tokens_total", "kvasir_tenant_generation_tokens_total"};
        String[] helps = {"Finished requests", "Prompt tokens", "Prompt tokens served from the KV cache",
            "Generated tokens"};
        for (int i = 0; i < names.length; i++) {
            Map<String, Long> values = new TreeMap<>();
            int column = i;
            perTenant.forEach((tenant, counts) -> values.put(tenant, counts[column].get()));
            out.labelled(names[i], helps[i] + ", per tenant", "counter", "tenant", values);
        }
        Map<String, Long> refusals = new TreeMap<>();
        refused.forEach((tenant, n) -> refusals.put(tenant, n.get()));
        out.labelled("kvasir_tenant_refused_total", "Requests refused for a quota (429), per tenant", "counter",
                "tenant", refusals);
        return out + extra.get();
    }
}
