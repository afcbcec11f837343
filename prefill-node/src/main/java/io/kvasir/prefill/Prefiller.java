package io.kvasir.prefill;

import io.kvasir.engine.sampling.SamplingParams;

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
    Result prefill(String tenant, int[] prompt, SamplingParams sampling);

    /** This node's metrics in Prometheus' text format. */
    String metricsText(String modelName);

    /** Stops its engine loop; prompts in flight end with it. */
    @Override
    void close();
}
