package io.kvasir.router;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.ToLongFunction;

import io.kvasir.telemetry.Exposition;
import io.kvasir.telemetry.MetricFamilies;
import io.prometheus.metrics.core.metrics.CounterWithCallback;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.Labels;

/**
 * The router's metrics, under vLLM's names where vLLM has one (so its Grafana dashboards work
 * unchanged) and {@code kvasir_} otherwise, every family defined here. Engine-side figures
 * (waiting sequences, KV usage) come from the decode nodes' heartbeats, summed over the pool, so
 * one scrape of the router shows the whole cluster as one vLLM server would show itself.
 */
public final class RouterMetrics {
    /** Tenants with series of their own; the rest are counted together. */
    static final int MAX_TENANT_SERIES = 1000;
    /** The label of tenants beyond {@link #MAX_TENANT_SERIES} (not a valid tenant name, so never a real one's). */
    static final String OTHER_TENANTS = "(other)";
    /** The codes counted from the start (at 0), so a rate over them exists before the first error. */
    private static final String[] COMMON_ERRORS = {"INVALID_ARGUMENT", "RESOURCE_EXHAUSTED", "UNAVAILABLE", "CANCELLED",
        "DEADLINE_EXCEEDED", "INTERNAL"};
    private static final String[] SOURCES = {"computed", "local", "host", "ssd"};

    private final PrometheusRegistry registry = new PrometheusRegistry();
    private final Labels model;
    private final Histogram ttft;
    private final Histogram itl;
    private final Histogram e2e;
    private final Histogram queue;
    private final AtomicLong promptTokens = new AtomicLong();
    private final AtomicLong generationTokens = new AtomicLong();
    private final AtomicLong prefixHits = new AtomicLong();
    private final AtomicLong running = new AtomicLong();
    private final Map<String, AtomicLong> finished = new ConcurrentHashMap<>();
    private final Map<String, AtomicLong> refused = new ConcurrentHashMap<>();
    /** Per tenant: finished requests, prompt tokens, cached prompt tokens, generated tokens. */
    private final Map<String, AtomicLong[]> perTenant = new ConcurrentHashMap<>();
    /** By gRPC status code (a fixed set of names). */
    private final Map<String, AtomicLong> errors = new ConcurrentHashMap<>();
    private final AtomicLong[] bySource = {new AtomicLong(), new AtomicLong(), new AtomicLong(), new AtomicLong()};
    private volatile NodeLoads nodes;
    private volatile boolean tenantLabels;

    public RouterMetrics(String modelName) {
        this.model = Labels.of("model_name", modelName);
        ttft = Exposition.latency("vllm:time_to_first_token_seconds", "Time to first token").constLabels(model)
                .register(registry);
        itl = Exposition.latency("vllm:inter_token_latency_seconds", "Time between streamed tokens").constLabels(model)
                .register(registry);
        e2e = Exposition.latency("vllm:e2e_request_latency_seconds", "Request latency, end to end").constLabels(model)
                .register(registry);
        queue = Exposition.latency("vllm:request_queue_time_seconds",
                "Time a request waited on its decode node before it was admitted").constLabels(model).register(registry);
        for (String code : COMMON_ERRORS) {
            errors.put(code, new AtomicLong());
        }
        MetricFamilies.gauge(registry, "vllm:num_requests_running", "Requests in flight through this router", model,
                running::get);
        GaugeWithCallback.builder().name("vllm:num_requests_waiting").help("Sequences waiting for room on the decode nodes")
                .constLabels(model).callback(cb -> {
                    if (nodes != null) {
                        cb.call(nodes.all().values().stream().mapToLong(NodeLoads.Load::waiting).sum());
                    }
                }).register(registry);
        GaugeWithCallback.builder().name("vllm:kv_cache_usage_perc")
                .help("Fraction of the decode nodes' KV blocks reserved by sequences").constLabels(model).callback(cb -> {
                    if (nodes != null) {
                        long free = 0, total = 0;
                        for (NodeLoads.Load load : nodes.all().values()) {
                            free += load.freeBlocks();
                            total += load.totalBlocks();
                        }
                        cb.call(total == 0 ? 0 : 1.0 - (double) free / total);
                    }
                }).register(registry);
        MetricFamilies.counter(registry, "vllm:prompt_tokens", "Prompt tokens", model, promptTokens::get);
        MetricFamilies.counter(registry, "vllm:generation_tokens", "Generated tokens", model, generationTokens::get);
        MetricFamilies.counter(registry, "vllm:prefix_cache_queries", "Prompt tokens looked up in the KV cache", model,
                promptTokens::get);
        MetricFamilies.counter(registry, "vllm:prefix_cache_hits", "Prompt tokens found in the KV cache", model,
                prefixHits::get);
        labelled("vllm:request_success", "Finished requests, by reason", "finished_reason", finished);
        labelled("kvasir_request_errors", "Requests answered with an error, by gRPC status code", "code", errors);
        CounterWithCallback.builder().name("kvasir_prompt_tokens_by_source").help("Prompt tokens of finished requests, "
                + "by where their KV came from: computed, or cached in the decode node's pool (local), the store's "
                + "memory (host) or SSD").constLabels(model).labelNames("source").callback(cb -> {
                    for (int i = 0; i < SOURCES.length; i++) {
                        cb.call(bySource[i].get(), SOURCES[i]);
                    }
                }).register(registry);
        nodeGauge("kvasir_node_sequences", "Sequences running or waiting on a decode node (its heartbeat)",
                NodeLoads.Load::sequences);
        nodeGauge("kvasir_node_free_kv_blocks", "Free KV blocks on a decode node (its heartbeat)", NodeLoads.Load::freeBlocks);
        String[] names = {"kvasir_tenant_requests", "kvasir_tenant_prompt_tokens", "kvasir_tenant_cached_prompt_tokens",
            "kvasir_tenant_generation_tokens"};
        String[] helps = {"Finished requests", "Prompt tokens", "Prompt tokens served from the KV cache", "Generated tokens"};
        for (int i = 0; i < names.length; i++) {
            int column = i;
            CounterWithCallback.builder().name(names[i]).help(helps[i] + ", per tenant (with --metrics-tenants)")
                    .labelNames("tenant").callback(cb -> {
                        if (tenantLabels) {
                            perTenant.forEach((tenant, counts) -> cb.call(counts[column].get(), tenant));
                        }
                    }).register(registry);
        }
        CounterWithCallback.builder().name("kvasir_tenant_refused")
                .help("Requests refused for a quota (429), per tenant (with --metrics-tenants)").labelNames("tenant")
                .callback(cb -> {
                    if (tenantLabels) { // every tenant seen, at 0 until refused
                        Map<String, Long> all = new java.util.TreeMap<>();
                        perTenant.keySet().forEach(t -> all.put(t, 0L));
                        refused.forEach((t, n) -> all.put(t, n.get()));
                        all.forEach((t, n) -> cb.call(n, t));
                    }
                }).register(registry);
    }

    private void labelled(String name, String help, String label, Map<String, AtomicLong> values) {
        CounterWithCallback.builder().name(name).help(help).constLabels(model).labelNames(label)
                .callback(cb -> values.forEach((key, n) -> cb.call(n.get(), key))).register(registry);
    }

    private void nodeGauge(String name, String help, ToLongFunction<NodeLoads.Load> value) {
        GaugeWithCallback.builder().name(name).help(help).labelNames("node").callback(cb -> {
            if (nodes != null) {
                nodes.all().forEach((node, load) -> cb.call(value.applyAsLong(load), node));
            }
        }).register(registry);
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
     * The registry the router's /metrics serves: {@code serve} adds its embedded store member's
     * {@code kvasir_kv_*} to it (names no other role uses, so one exposition stays valid).
     */
    public PrometheusRegistry registry() {
        return registry;
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

    /** The Prometheus text exposition (tests). */
    String render() {
        return Exposition.text(registry);
    }
}
