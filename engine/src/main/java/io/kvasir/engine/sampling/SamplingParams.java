package io.kvasir.engine.sampling;

/**
 * How the next token is chosen. Temperature 0 is greedy (argmax of the raw logits); otherwise
 * logits are divided by the temperature, cut to the {@code topK} most likely (0 = all), then to
 * the smallest set whose probability reaches {@code topP} (1 = all), and sampled with a generator
 * seeded by {@code seed}, so the same request gives the same tokens.
 */
public record SamplingParams(float temperature, int topK, float topP, long seed) {
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
    }

    public boolean greedy() {
        return temperature == 0;
    }
}
