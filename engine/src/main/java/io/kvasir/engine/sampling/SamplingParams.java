package io.kvasir.engine.sampling;

import java.util.Map;

/**
 * How the next token is chosen, in vLLM's order: {@code logitBias} is added to the raw logits, then
 * the penalties apply (repetition over the prompt and the tokens generated so far, presence and
 * frequency over the generated ones). Temperature 0 is then greedy (argmax); otherwise logits are
 * divided by the temperature, tokens below {@code minP} times the likeliest's probability dropped,
 * the rest cut to the {@code topK} most likely (0 = all), then to the smallest set whose
 * probability reaches {@code topP} (1 = all), and sampled with a generator seeded by {@code seed},
 * so the same request gives the same tokens.
 *
 * @param repetitionPenalty 1 is off; positive logits of repeated tokens are divided by it, negative multiplied
 * @param logitBias         token id → value added to its logit
 * @param logprobs          -1: none; else each token's log-probability and this many (≤ {@link #MAX_LOGPROBS})
 *                          likeliest tokens', of the raw logits (before bias, penalties and temperature)
 * @param structuredOutput  null, or a regular expression the generated text must match ({@link Grammar}):
 *                          tokens that would leave it are masked after the bias and penalties
 */
public record SamplingParams(float temperature, int topK, float topP, long seed, float minP, float presencePenalty,
        float frequencyPenalty, float repetitionPenalty, Map<Integer, Float> logitBias, int logprobs,
        String structuredOutput) {
    /** OpenAI's bound on top_logprobs. */
    public static final int MAX_LOGPROBS = 20;
    public static final SamplingParams GREEDY = new SamplingParams(0, 0, 1, 0);

    public SamplingParams {
        if (!(temperature >= 0) || Float.isInfinite(temperature)) {
            throw new IllegalArgumentException("temperature must be a finite number >= 0, got " + temperature);
        }
        if (topK < 0) {
            throw new IllegalArgumentException("top_k must be >= 0 (0 = no limit), got " + topK);
        }
        if (!(topP > 0 && topP <= 1)) {
            throw new IllegalArgumentException("top_p must be in (0, 1], got " + topP);
        }
        if (!(minP >= 0 && minP <= 1)) {
            throw new IllegalArgumentException("min_p must be in [0, 1], got " + minP);
        }
        if (!(presencePenalty >= -2 && presencePenalty <= 2)) {
            throw new IllegalArgumentException("presence_penalty must be in [-2, 2], got " + presencePenalty);
        }
        if (!(frequencyPenalty >= -2 && frequencyPenalty <= 2)) {
            throw new IllegalArgumentException("frequency_penalty must be in [-2, 2], got " + frequencyPenalty);
        }
        if (!(repetitionPenalty > 0) || Float.isInfinite(repetitionPenalty)) {
            throw new IllegalArgumentException("repetition_penalty must be a finite number > 0, got " + repetitionPenalty);
        }
        for (Map.Entry<Integer, Float> e : logitBias.entrySet()) {
            if (e.getKey() < 0 || !(e.getValue() >= -100 && e.getValue() <= 100)) {
                throw new IllegalArgumentException("logit_bias of token " + e.getKey() + " must be in [-100, 100] "
                        + "for a token id >= 0, got " + e.getValue());
            }
        }
        logitBias = Map.copyOf(logitBias);
        if (logprobs < -1 || logprobs > MAX_LOGPROBS) {
            throw new IllegalArgumentException("top_logprobs must be 0 to " + MAX_LOGPROBS + ", got " + logprobs);
        }
    }

    /** Unconstrained. */
    public SamplingParams(float temperature, int topK, float topP, long seed, float minP, float presencePenalty,
            float frequencyPenalty, float repetitionPenalty, Map<Integer, Float> logitBias, int logprobs) {
        this(temperature, topK, topP, seed, minP, presencePenalty, frequencyPenalty, repetitionPenalty, logitBias, logprobs,
                null);
    }

    /** No log-probabilities returned. */
    public SamplingParams(float temperature, int topK, float topP, long seed, float minP, float presencePenalty,
            float frequencyPenalty, float repetitionPenalty, Map<Integer, Float> logitBias) {
        this(temperature, topK, topP, seed, minP, presencePenalty, frequencyPenalty, repetitionPenalty, logitBias, -1);
    }

    /** Temperature, top-k, top-p and a seed; no penalties, no bias. */
    public SamplingParams(float temperature, int topK, float topP, long seed) {
        this(temperature, topK, topP, seed, 0, 0, 0, 1, Map.of());
    }

    public boolean greedy() {
        return temperature == 0;
    }

    /** Whether any penalty looks at the tokens seen so far. */
    boolean penalizes() {
        return presencePenalty != 0 || frequencyPenalty != 0 || repetitionPenalty != 1;
    }
}
