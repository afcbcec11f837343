package io.kvasir.engine.sampling;

import java.util.Arrays;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Draws tokens from logits by {@link SamplingParams}. Holds its random generator and scratch
 * arrays, so sampling allocates nothing per token; one sampler per sequence. A logit bias and the
 * penalties adjust the logits row in place (the engine's rows are scratch, recomputed every step).
 */
public final class Sampler {
    private final SamplingParams params;
    private final SplittableRandom random;
    private final float[] probs;
    private final long[] order; // (probability bits << 32 | token id), sorted to rank candidates
    /** With penalties: how often each token was generated, and which appeared in the prompt; else null. */
    private final int[] generatedCounts;
    private final java.util.BitSet inPrompt;
    /** With logprobs: the raw row of the last sample (bias and penalties adjust the caller's in place), and its result. */
    private final float[] raw;
    private TokenLogprobs last;
    /** Structured output: the grammar and where the text generated so far leaves it. */
    private final Grammar grammar;
    private int grammarState;

    public Sampler(SamplingParams params, int vocabSize) {
        this(params, vocabSize, null);
    }

    /** {@code grammar}: the compiled {@link SamplingParams#structuredOutput}, or null. */
    public Sampler(SamplingParams params, int vocabSize, Grammar grammar) {
        if ((grammar == null) != (params.structuredOutput() == null)) {
            throw new IllegalArgumentException("structured output needs its compiled grammar, and only then");
        }
        this.grammar = grammar;
        this.grammarState = grammar == null ? 0 : grammar.initialState();
        this.params = params;
        this.random = new SplittableRandom(params.seed());
        this.probs = new float[vocabSize];
        this.order = new long[vocabSize];
        for (int token : params.logitBias().keySet()) {
            if (token >= vocabSize) {
                throw new IllegalArgumentException("logit_bias names token " + token + ", outside the vocabulary [0, "
                        + vocabSize + ")");
            }
        }
        this.generatedCounts = params.penalizes() ? new int[vocabSize] : null;
        this.inPrompt = params.repetitionPenalty() != 1 ? new java.util.BitSet(vocabSize) : null;
        this.raw = params.logprobs() >= 0 ? new float[vocabSize] : null;
    }

    /** The prompt, for the repetition penalty (which counts its tokens as seen). */
    public void prompt(int[] tokens) {
        if (inPrompt != null) {
            for (int t : tokens) {
                if (t >= 0 && t < probs.length) {
                    inPrompt.set(t);
                }
            }
        }
    }

    /** A token the sequence took (sampled here or chosen elsewhere), for the penalties. */
    public void accepted(int token) {
        if (grammar != null) {
            grammarState = grammar.next(grammarState, token);
        }
        if (generatedCounts != null && token >= 0 && token < generatedCounts.length) {
            generatedCounts[token]++;
        }
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
        if (raw == null) {
            return choose(logits, offset);
        }
        System.arraycopy(logits, offset, raw, 0, raw.length);
        int token = choose(logits, offset);
        last = logprobsOf(raw, 0, token);
        return token;
    }

    /** With logprobs asked for: those of the token the last {@link #sample} chose; else null. */
    public TokenLogprobs lastLogprobs() {
        return raw == null ? null : last;
    }

    /**
     * The log-probabilities of {@code token} (chosen elsewhere, e.g. by a prefill node) under the raw
     * logits row at {@code offset}, with the likeliest tokens', as many as asked for; null if none were.
     */
    public TokenLogprobs logprobsOf(float[] logits, int offset, int token) {
        int n = probs.length, k = params.logprobs();
        if (k < 0) {
            return null;
        }
        float max = logits[offset + argmax(logits, offset, n)];
        double sum = 0;
        for (int i = 0; i < n; i++) {
            sum += Math.exp(logits[offset + i] - max);
        }
        double logZ = max + Math.log(sum);
        // the k likeliest, by insertion into a sorted list: k is at most 20
        int[] top = new int[Math.min(k, n)];
        float[] topLogprobs = new float[top.length];
        int found = 0;
        for (int i = 0; i < n && top.length > 0; i++) {
            float l = logits[offset + i];
            if (found == top.length && l <= logits[offset + top[found - 1]]) {
                continue;
            }
            int at = Math.min(found, top.length - 1);
            while (at > 0 && logits[offset + top[at - 1]] < l) {
                top[at] = top[at - 1];
                at--;
            }
            top[at] = i;
            found = Math.min(found + 1, top.length);
        }
        for (int r = 0; r < top.length; r++) {
            topLogprobs[r] = (float) (logits[offset + top[r]] - logZ);
        }
        return new TokenLogprobs((float) (logits[offset + token] - logZ), top, topLogprobs);
    }

    private int choose(float[] logits, int offset) {
        int n = probs.length;
        adjust(logits, offset);
        if (grammar != null) {
            grammar.mask(grammarState, logits, offset);
        }
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
        if (params.minP() > 0) { // ranked, so the tokens at or above min_p · p_max are a prefix
            float floor = params.minP() * probs[(int) order[n - 1]];
            int above = 1;
            while (above < keep && probs[(int) order[n - 1 - above]] >= floor) {
                above++;
            }
            keep = above;
        }
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

    /** The bias, then the penalties, on the logits row in place (vLLM's order). */
    private void adjust(float[] logits, int offset) {
        for (Map.Entry<Integer, Float> bias : params.logitBias().entrySet()) {
            logits[offset + bias.getKey()] += bias.getValue();
        }
        if (generatedCounts == null) {
            return;
        }
        float repetition = params.repetitionPenalty();
        for (int t = 0; t < generatedCounts.length; t++) {
            int count = generatedCounts[t];
            if (repetition != 1 && (count > 0 || inPrompt.get(t))) {
                float l = logits[offset + t];
                logits[offset + t] = l > 0 ? l / repetition : l * repetition;
            }
            if (count > 0) {
                logits[offset + t] -= params.frequencyPenalty() * count + params.presencePenalty();
            }
        }
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
