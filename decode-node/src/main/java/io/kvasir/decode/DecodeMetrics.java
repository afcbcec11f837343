package io.kvasir.decode;

import java.util.concurrent.atomic.LongAdder;

import io.kvasir.kv.metrics.LatencyHistogram;
import io.kvasir.kv.metrics.PrometheusText;

/** A decode node's metrics, under vLLM's names (an engine's view: running, waiting, KV usage, queue time). */
final class DecodeMetrics {
    final LatencyHistogram queueTime = new LatencyHistogram("vllm:request_queue_time_seconds",
            "Time a request waited on this node before it was admitted to the batch");
    private final LongAdder promptTokens = new LongAdder();
    private final LongAdder cachedTokens = new LongAdder();
    private final LongAdder generationTokens = new LongAdder();

    void prompt(int tokens, int cached) {
        promptTokens.add(tokens);
        cachedTokens.add(cached);
    }

    void generated(int tokens) {
        generationTokens.add(tokens);
    }

    String render(DecodeEngine engine, String modelName) {
        String m = PrometheusText.labels("model_name", modelName);
        long total = engine.pool().maxBlocks();
        double usage = total == 0 ? 0 : 1.0 - (double) engine.freeBlocks() / total;
        PrometheusText out = new PrometheusText()
                .gauge("vllm:num_requests_running", "Sequences in the running batch", m, engine.running())
                .gauge("vllm:num_requests_waiting", "Sequences waiting for room", m, engine.waiting())
                .gauge("vllm:kv_cache_usage_perc", "Fraction of KV blocks reserved by sequences (1 = full)", m, usage)
                .counter("vllm:prompt_tokens_total", "Prompt tokens", m, promptTokens.sum())
                .counter("vllm:generation_tokens_total", "Generated tokens", m, generationTokens.sum())
                .counter("vllm:prefix_cache_queries_total", "Prompt tokens looked up in the KV cache", m,
                        promptTokens.sum())
                .counter("vllm:prefix_cache_hits_total", "Prompt tokens whose KV came from a cache", m, cachedTokens.sum())
                .histogram(queueTime, m)
                .gauge("kvasir_node_kv_blocks", "KV blocks in this node's pool", m, total)
                .gauge("kvasir_node_local_tier_blocks", "Finished sequences' blocks kept in the local tier", m,
                        engine.localBlocks())
                .counter("kvasir_node_local_tier_hit_tokens_total", "Prompt tokens copied from the local tier", m,
                        engine.localHitTokens());
        return out.toString();
    }
}
