package io.kvasir.decode;

import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.atomic.LongAdder;

import io.kvasir.engine.loop.EngineLoop;
import io.kvasir.telemetry.Exposition;
import io.kvasir.telemetry.MetricFamilies;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.Labels;

/** A decode node's metrics, under vLLM's names, as its engine loop reports them; CPU and GPU alike. */
final class DecodeMetrics implements EngineLoop.Observer {
    private final Histogram queueTime = Exposition.latency("vllm:request_queue_time_seconds",
            "Time a request waited on this node before it was admitted to the batch").labelNames("model_name").build();
    private final LongAdder promptTokens = new LongAdder();
    private final LongAdder cachedTokens = new LongAdder();
    private final LongAdder generationTokens = new LongAdder();
    private final AtomicLongArray stepsByBatchSize;
    private volatile String model = "";

    DecodeMetrics(int maxBatch) {
        stepsByBatchSize = new AtomicLongArray(maxBatch + 1);
    }

    @Override
    public void admitted(double queueSeconds) {
        queueTime.labelValues(model).observe(queueSeconds);
    }

    @Override
    public void prefilled(int prompt, int cached) {
        promptTokens.add(prompt);
        cachedTokens.add(cached);
    }

    @Override
    public void stepped(int batchSize) {
        stepsByBatchSize.incrementAndGet(batchSize);
    }

    @Override
    public void finished(EngineLoop.Finish finish, double runSeconds) {
        generationTokens.add(finish.completionTokens());
    }

    /** Steps run so far, by how many sequences they carried (index = batch size). */
    long[] stepsByBatchSize() {
        long[] steps = new long[stepsByBatchSize.length()];
        for (int i = 0; i < steps.length; i++) {
            steps[i] = stepsByBatchSize.get(i);
        }
        return steps;
    }

    /** The engine's families, labelled with {@code modelName}: running, waiting, KV usage, tokens, prefix hits, queue time. */
    void register(PrometheusRegistry registry, String modelName, EngineLoop<?> loop) {
        model = modelName;
        Labels m = Labels.of("model_name", modelName);
        MetricFamilies.gauge(registry, "vllm:num_requests_running", "Sequences in the running batch", m, loop::running);
        MetricFamilies.gauge(registry, "vllm:num_requests_waiting", "Sequences waiting for room", m, loop::waiting);
        MetricFamilies.gauge(registry, "vllm:kv_cache_usage_perc", "Fraction of KV blocks reserved by sequences (1 = full)",
                m, () -> {
                    long total = loop.blocks().totalBlocks();
                    return total == 0 ? 0 : 1.0 - (double) loop.blocks().freeBlocks() / total;
                });
        MetricFamilies.counter(registry, "vllm:prompt_tokens", "Prompt tokens", m, promptTokens::sum);
        MetricFamilies.counter(registry, "vllm:generation_tokens", "Generated tokens", m, generationTokens::sum);
        MetricFamilies.counter(registry, "vllm:prefix_cache_queries", "Prompt tokens looked up in the KV cache", m,
                promptTokens::sum);
        MetricFamilies.counter(registry, "vllm:prefix_cache_hits", "Prompt tokens whose KV came from a cache", m,
                cachedTokens::sum);
        registry.register(queueTime);
    }
}
