package io.kvasir.engine.sampling;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Draws tokens from logits by {@link SamplingParams}. Holds its random generator and scratch
 * arrays, so sampling allocates nothing per token; one sampler per sequence.
 */
public final class Sampler {
    private final SamplingParams params;
    private final SplittableRandom random;
    private final float[] probs;
    private final long[] order; // (probability bits << 32 | token id), sorted to rank candidates

    public Sampler(SamplingParams params, int vocabSize) {
        this.params = params;
        this.random = new SplittableRandom(params.seed());
        this.probs = new float[vocabSize];
        this.order = new long[vocabSize];
    }

    public int sample(float[] logits) {
        return sample(logits, 0);
    }

    /**
     * Consumes the randomness of one sample without sampling: a sequence whose first token was
     * chosen elsewhere (a prefill node, same seed) continues with the draws that follow it.
     */
    public void skip() {
        if (!params.greedy()) {
            random.nextDouble();
        }
    }

    /** Samples from the vocabulary-sized row of {@code logits} that starts at {@code offset}. */
    public int sample(float[] logits, int offset) {
        int n = probs.length;
        if (params.greedy()) {
            return argmax(logits, offset, n);
        }
        float max = logits[offset + argmax(logits, offset, n)];
        double sum = 0;
        for (int i = 0; i < n; i++) {
            float p = (float) Math.exp((logits[offset + i] - max) / params.temperature());
            probs[i] = p;
            sum += p;
        }
        // rank by probability: positive float bits order like the floats themselves
        for (int i = 0; i < n; i++) {
            order[i] = ((long) Float.floatToRawIntBits((float) (probs[i] / sum)) << 32) | i;
        }
        Arrays.sort(order, 0, n);
        int keep = params.topK() > 0 ? Math.min(params.topK(), n) : n;
        double kept = 0;
        for (int r = 0; r < keep; r++) {
            kept += probs[(int) order[n - 1 - r]];
        }
        if (params.topP() < 1) {
            double cumulative = 0;
            for (int r = 0; r < keep; r++) {
                cumulative += probs[(int) order[n - 1 - r]] / kept;
                if (cumulative >= params.topP()) {
                    keep = r + 1;
                    break;
                }
            }
            kept = 0;
            for (int r = 0; r < keep; r++) {
                kept += probs[(int) order[n - 1 - r]];
            }
        }
        double u = random.nextDouble() * kept;
        for (int r = 0; r < keep; r++) {
            int token = (int) order[n - 1 - r];
            u -= probs[token];
            if (u <= 0) {
                return token;
            }
        }
        return (int) order[n - keep];
    }

    public static int argmax(float[] logits) {
        return argmax(logits, 0, logits.length);
    }

    /** The index, relative to {@code offset}, of the largest of {@code logits[offset, offset+length)}. */
    public static int argmax(float[] logits, int offset, int length) {
        int best = 0;
        for (int i = 1; i < length; i++) {
            if (logits[offset + i] > logits[offset + best]) {
                best = i;
            }
        }
        return best;
    }
}
