package io.kvasir.router;

import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.atomic.DoubleAdder;

/**
 * The router's metrics in Prometheus' text format, under vLLM's names where vLLM has one (so its
 * Grafana dashboards work unchanged) and {@code kvasir_} otherwise. Hand-written: counters and
 * fixed-bucket histograms are a few lines each, a metrics library would be more.
 */
public final class RouterMetrics {
    private static final double[] LATENCY_BUCKETS = {0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75,
            1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0};

    private final String model;
    private final Histogram ttft = new Histogram("vllm:time_to_first_token_seconds", "Time to first token");
    private final Histogram itl = new Histogram("vllm:inter_token_latency_seconds", "Time between streamed tokens");
    private final Histogram e2e = new Histogram("vllm:e2e_request_latency_seconds", "Request latency, end to end");
    private final AtomicLong promptTokens = new AtomicLong();
    private final AtomicLong generationTokens = new AtomicLong();
    private final AtomicLong prefixQueries = new AtomicLong();
    private final AtomicLong prefixHits = new AtomicLong();
    private final AtomicLong running = new AtomicLong();
    private final Map<String, AtomicLong> finished = new ConcurrentHashMap<>();
    private final Map<String, AtomicLong[]> perTenant = new ConcurrentHashMap<>();
    private volatile NodeLoads nodes;

    public RouterMetrics(String model) {
        this.model = model;
    }

    /** Reports the decode nodes' own heartbeat figures too. */
    public void watch(NodeLoads loads) {
        this.nodes = loads;
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

    void finished(String tenant, String reason, double seconds, int prompt, int cached, int completion) {
        running.decrementAndGet();
        e2e.observe(seconds);
        promptTokens.addAndGet(prompt);
        generationTokens.addAndGet(completion);
        prefixQueries.addAndGet(prompt);
        prefixHits.addAndGet(cached);
        finished.computeIfAbsent(reason, r -> new AtomicLong()).incrementAndGet();
        AtomicLong[] t = perTenant.computeIfAbsent(tenant, x -> new AtomicLong[] {new AtomicLong(), new AtomicLong(),
                new AtomicLong(), new AtomicLong()});
        t[0].incrementAndGet();
        t[1].addAndGet(prompt);
        t[2].addAndGet(cached);
        t[3].addAndGet(completion);
    }

    void failed() {
        running.decrementAndGet();
    }

    /** The Prometheus text exposition. */
    public String render() {
        StringBuilder out = new StringBuilder();
        String m = "{model_name=\"" + model + "\"}";
        gauge(out, "vllm:num_requests_running", "Requests in flight through this router", m, running.get());
        counter(out, "vllm:prompt_tokens_total", "Prompt tokens", m, promptTokens.get());
        counter(out, "vllm:generation_tokens_total", "Generated tokens", m, generationTokens.get());
        counter(out, "vllm:prefix_cache_queries_total", "Prompt tokens looked up in the KV cache", m, prefixQueries.get());
        counter(out, "vllm:prefix_cache_hits_total", "Prompt tokens found in the KV cache", m, prefixHits.get());
        out.append("# HELP vllm:request_success_total Finished requests, by reason\n# TYPE vllm:request_success_total counter\n");
        finished.forEach((reason, n) -> out.append("vllm:request_success_total{model_name=\"").append(model)
                .append("\",finished_reason=\"").append(reason).append("\"} ").append(n.get()).append('\n'));
        ttft.render(out, model);
        itl.render(out, model);
        e2e.render(out, model);
        NodeLoads watched = nodes;
        if (watched != null) {
            out.append("# HELP kvasir_node_sequences Sequences running or waiting on a decode node (its heartbeat)\n")
                    .append("# TYPE kvasir_node_sequences gauge\n");
            watched.all().forEach((node, load) -> out.append("kvasir_node_sequences{node=\"").append(node).append("\"} ")
                    .append(load.sequences()).append('\n'));
            out.append("# HELP kvasir_node_free_kv_blocks Free KV blocks on a decode node (its heartbeat)\n")
                    .append("# TYPE kvasir_node_free_kv_blocks gauge\n");
            watched.all().forEach((node, load) -> out.append("kvasir_node_free_kv_blocks{node=\"").append(node)
                    .append("\"} ").append(load.freeBlocks()).append('\n'));
        }
        String[] names = {"kvasir_tenant_requests_total", "kvasir_tenant_prompt_tokens_total",
            "kvasir_tenant_cached_prompt_tokens_total", "kvasir_tenant_generation_tokens_total"};
        for (int i = 0; i < names.length; i++) {
            out.append("# TYPE ").append(names[i]).append(" counter\n");
            for (var e : perTenant.entrySet()) {
                out.append(names[i]).append("{tenant=\"").append(e.getKey()).append("\"} ").append(e.getValue()[i].get())
                        .append('\n');
            }
        }
        return out.toString();
    }

    private static void gauge(StringBuilder out, String name, String help, String labels, long v) {
        out.append("# HELP ").append(name).append(' ').append(help).append("\n# TYPE ").append(name)
                .append(" gauge\n").append(name).append(labels).append(' ').append(v).append('\n');
    }

    private static void counter(StringBuilder out, String name, String help, String labels, long v) {
        out.append("# HELP ").append(name).append(' ').append(help).append("\n# TYPE ").append(name)
                .append(" counter\n").append(name).append(labels).append(' ').append(v).append('\n');
    }

    /** Cumulative buckets, sum and count: Prometheus' histogram. */
    private static final class Histogram {
        private final String name;
        private final String help;
        private final AtomicLongArray counts = new AtomicLongArray(LATENCY_BUCKETS.length + 1);
        private final DoubleAdder sum = new DoubleAdder();

        Histogram(String name, String help) {
            this.name = name;
            this.help = help;
        }

        void observe(double v) {
            int i = 0;
            while (i < LATENCY_BUCKETS.length && v > LATENCY_BUCKETS[i]) {
                i++;
            }
            counts.incrementAndGet(i);
            sum.add(v);
        }

        void render(StringBuilder out, String model) {
            out.append("# HELP ").append(name).append(' ').append(help).append("\n# TYPE ").append(name)
                    .append(" histogram\n");
            long cumulative = 0;
            for (int i = 0; i <= LATENCY_BUCKETS.length; i++) {
                cumulative += counts.get(i);
                String le = i == LATENCY_BUCKETS.length ? "+Inf" : String.format(Locale.ROOT, "%s", LATENCY_BUCKETS[i]);
                out.append(name).append("_bucket{model_name=\"").append(model).append("\",le=\"").append(le)
                        .append("\"} ").append(cumulative).append('\n');
            }
            out.append(name).append("_sum{model_name=\"").append(model).append("\"} ").append(sum.sum()).append('\n');
            out.append(name).append("_count{model_name=\"").append(model).append("\"} ").append(cumulative).append('\n');
        }
    }
}
