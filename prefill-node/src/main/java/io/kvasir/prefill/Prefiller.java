package io.kvasir.prefill;

import java.util.function.Consumer;

import io.kvasir.engine.sampling.SamplingParams;
import io.prometheus.metrics.model.registry.PrometheusRegistry;

/** What a prefill node runs a prompt on: the CPU engine ({@link PrefillEngine}) or a GPU ({@link CudaPrefillEngine}). */
public interface Prefiller extends AutoCloseable {
    /**
     * @param storedBlocks    full blocks this call computed and stored
     * @param cachedSsdTokens of {@code cachedTokens}, those read from the store's SSD tier
     */
    record Result(int firstToken, int cachedTokens, int storedBlocks, int cachedSsdTokens) {
    }

    /**
     * Loads what the store has of {@code prompt}, computes the rest, stores every full block before
     * returning, and chooses the first token.
     *
     * @throws IllegalArgumentException an empty prompt, a token outside the vocabulary, a prompt too long
     */
    default Result prefill(String tenant, int[] prompt, SamplingParams sampling) {
        return prefill(tenant, prompt, sampling, cancel -> { });
    }

    /**
     * As {@link #prefill(String, int[], SamplingParams)}; {@code onCancel} receives what stops the
     * prompt (the caller runs it when its client goes away): a prompt still waiting is dropped, one
     * running stops after its pass, and the call then throws {@link java.util.concurrent.CancellationException}.
     */
    Result prefill(String tenant, int[] prompt, SamplingParams sampling, Consumer<Runnable> onCancel);

    /** Adds this node's metrics, labelled with {@code modelName}, to its registry. */
    void registerMetrics(PrometheusRegistry registry, String modelName);

    /** Stops its engine loop; prompts in flight end with it. */
    @Override
    void close();
}
