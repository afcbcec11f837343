package io.kvasir.prefill;

import java.util.concurrent.atomic.LongAdder;

import io.kvasir.engine.loop.EngineLoop;
import io.kvasir.telemetry.Exposition;
import io.kvasir.telemetry.MetricFamilies;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.Labels;

/** A prefill node's metrics, under vLLM's names where it has them, as its engine loop reports them. */
final class PrefillMetrics implements EngineLoop.Observer {
    private final Histogram queueTime = Exposition.latency("vllm:request_queue_time_seconds",
            "Time a prompt waited for the node").labelNames("model_name").build();
    private final Histogram prefillTime = Exposition.latency("vllm:request_prefill_time_seconds",
            "Time to load, compute and store a prompt").labelNames("model_name").build();
    private final LongAdder promptTokens = new LongAdder();
    private final LongAdder cachedTokens = new LongAdder();
    private final LongAdder storedBlocks = new LongAdder();
    private final int blockSize;
    private volatile String model = "";

    PrefillMetrics(int blockSize) {
        this.blockSize = blockSize;
    }

    @Override
    public void admitted(double queueSeconds) {
        queueTime.labelValues(model).observe(queueSeconds);
    }

    @Override
    public void finished(EngineLoop.Finish finish, double runSeconds) {
        prefillTime.labelValues(model).observe(runSeconds);
        promptTokens.add(finish.promptTokens());
        cachedTokens.add(finish.cachedPromptTokens());
        storedBlocks.add(storedBlocks(finish, blockSize));
    }

    /** Full blocks a prefill computed and stored: the prompt's, less those it found cached. */
    static int storedBlocks(EngineLoop.Finish finish, int blockSize) {
        return finish.promptTokens() / blockSize - finish.cachedPromptTokens() / blockSize;
    }

    /** The node's families, labelled with {@code modelName}. */
    void register(PrometheusRegistry registry, String modelName, EngineLoop<?> loop) {
        model = modelName;
        Labels m = Labels.of("model_name", modelName);
        MetricFamilies.gauge(registry, "vllm:num_requests_running", "Prompts being prefilled", m, loop::running);
        MetricFamilies.gauge(registry, "vllm:num_requests_waiting", "Prompts waiting for the node", m, loop::waiting);
        MetricFamilies.gauge(registry, "vllm:kv_cache_usage_perc", "Fraction of KV blocks in use", m,
                () -> 1.0 - (double) loop.blocks().freeBlocks() / loop.blocks().totalBlocks());
        MetricFamilies.counter(registry, "vllm:prompt_tokens", "Prompt tokens", m, promptTokens::sum);
        MetricFamilies.counter(registry, "vllm:prefix_cache_queries", "Prompt tokens looked up in the KV store", m,
                promptTokens::sum);
        MetricFamilies.counter(registry, "vllm:prefix_cache_hits", "Prompt tokens found in the KV store", m,
                cachedTokens::sum);
        MetricFamilies.counter(registry, "kvasir_prefill_stored_blocks", "Full blocks computed and put into the KV store",
                m, storedBlocks::sum);
        registry.register(queueTime);
        registry.register(prefillTime);
    }
}
