package io.kvasir.engine.sampling;

/**
 * A chosen token's log-probability under the model's raw logits, and the likeliest tokens' at the
 * same position, likeliest first.
 */
public record TokenLogprobs(float logprob, int[] topTokens, float[] topLogprobs) {
}
