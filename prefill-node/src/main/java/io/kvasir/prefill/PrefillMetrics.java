package io.kvasir.prefill;

import java.util.concurrent.atomic.LongAdder;
import java.util.function.DoubleSupplier;

import io.kvasir.engine.loop.EngineLoop;
import io.kvasir.telemetry.Exposition;
import io.prometheus.metrics.core.metrics.CounterWithCallback;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.model.registry.PrometheusRegistry;

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
        gauge(registry, "vllm:num_requests_running", "Prompts being prefilled", loop::running);
        gauge(registry, "vllm:num_requests_waiting", "Prompts waiting for the node", loop::waiting);
        gauge(registry, "vllm:kv_cache_usage_perc", "Fraction of KV blocks in use",
                () -> 1.0 - (double) loop.blocks().freeBlocks() / loop.blocks().totalBlocks());
        counter(registry, "vllm:prompt_tokens", "Prompt tokens", promptTokens);
        counter(registry, "vllm:prefix_cache_queries", "Prompt tokens looked up in the KV store", promptTokens);
        counter(registry, "vllm:prefix_cache_hits", "Prompt tokens found in the KV store", cachedTokens);
        counter(registry, "kvasir_prefill_stored_blocks", "Full blocks computed and put into the KV store", storedBlocks);
        registry.register(queueTime);
        registry.register(prefillTime);
    }

    /** A gauge of the node's, labelled with its model. */
    void gauge(PrometheusRegistry registry, String name, String help, DoubleSupplier value) {
        GaugeWithCallback.builder().name(name).help(help).labelNames("model_name")
                .callback(cb -> cb.call(value.getAsDouble(), model)).register(registry);
    }

    private void counter(PrometheusRegistry registry, String name, String help, LongAdder value) {
        CounterWithCallback.builder().name(name).help(help).labelNames("model_name")
                .callback(cb -> cb.call(value.sum(), model)).register(registry);
    }
}
