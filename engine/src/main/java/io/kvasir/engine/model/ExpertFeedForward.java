package io.kvasir.engine.model;

import java.util.Arrays;

import io.kvasir.engine.backend.Backend;

/**
 * A Mixture-of-Experts feed-forward over a batch of tokens ({@link MoeConfig} says how experts are
 * chosen and weighted). A step groups its tokens by expert: each chosen expert runs once, as
 * matmuls over the tokens routed to it (gathered into consecutive rows), straight from the mapped
 * weights; its output rows are added back to their tokens, weighted.
 */
final class ExpertFeedForward {
    /** llama.cpp's floor under the sum of the chosen weights when they are normalized. */
    private static final float MIN_WEIGHT_SUM = 6.103515625e-5f;
    private final MoeConfig config;
    private final int dim;
    private final Backend backend;
    // scratch for up to maxTokens tokens
    private final float[] logits;   // (maxTokens, experts) the router's
    private final int[] chosen;     // (maxTokens, used)
    private final float[] weights;  // (maxTokens, used)
    private final float[] routed;   // (maxTokens, dim) one expert's tokens, gathered
    private final float[] out;      // (maxTokens, dim) their outputs
    private final int[] rows;             // (maxTokens, used) the tokens of expert 0, then of expert 1, …
    private final float[] rowWeights;     // (maxTokens, used) and their weights
    private final int[] starts, ends;     // (experts + 1) where each expert's tokens start in rows
    private final float[] probs, scores;  // (experts) one token's

    ExpertFeedForward(ModelConfig c, int maxTokens, Backend backend) {
        this.config = c.moe();
        this.dim = c.dim();
        this.backend = backend;
        this.logits = new float[maxTokens * config.experts()];
        this.chosen = new int[maxTokens * config.used()];
        this.weights = new float[maxTokens * config.used()];
        this.routed = new float[maxTokens * dim];
        this.out = new float[maxTokens * dim];
        this.rows = new int[maxTokens * config.used()];
        this.rowWeights = new float[maxTokens * config.used()];
        this.starts = new int[config.experts() + 1];
        this.ends = new int[config.experts() + 1];
        this.probs = new float[config.experts()];
        this.scores = new float[config.experts()];
    }

    /** {@code y[t] = Σ_k w_k · expert_k(x[t]) (+ shared(x[t]))} for {@code n} tokens; {@code hGate}, {@code hUp} scratch. */
    void apply(LlamaWeights.Moe w, float[] x, float[] hGate, float[] hUp, float[] y, int n) {
        int experts = config.experts(), used = config.used();
        backend.matmul(w.router(), x, logits, n);
        for (int t = 0; t < n; t++) {
            choose(t, w.selectionBias());
        }
        // each expert's tokens, in token order: one counting pass over the choices, not one per expert
        Arrays.fill(starts, 0);
        for (int i = 0; i < n * used; i++) {
            starts[chosen[i] + 1]++;
        }
        for (int e = 0; e < experts; e++) {
            starts[e + 1] += starts[e];
        }
        System.arraycopy(starts, 0, ends, 0, experts);
        for (int i = 0; i < n * used; i++) {
            int at = ends[chosen[i]]++;
            rows[at] = i / used;
            rowWeights[at] = weights[i];
        }
        Arrays.fill(y, 0, n * dim, 0f);
        for (int e = 0; e < experts; e++) {
            int first = starts[e], m = starts[e + 1] - first;
            if (m == 0) {
                continue;
            }
            for (int j = 0; j < m; j++) {
                System.arraycopy(x, rows[first + j] * dim, routed, j * dim, dim);
            }
            backend.feedForward(w.gate().get(e), w.up().get(e), w.down().get(e), routed, hGate, hUp, out, m);
            for (int j = 0; j < m; j++) {
                backend.axpy(rowWeights[first + j], out, j * dim, y, rows[first + j] * dim, dim);
            }
        }
        if (w.sharedGate() != null) {
            backend.feedForward(w.sharedGate(), w.sharedUp(), w.sharedDown(), x, hGate, hUp, out, n);
            backend.axpy(1f, out, 0, y, 0, n * dim);
        }
    }

    /** Token {@code t}'s experts and their weights, from its router logits. */
    private void choose(int t, float[] selectionBias) {
        int experts = config.experts(), used = config.used();
        int at = t * experts;
        if (config.sigmoid()) {
            for (int e = 0; e < experts; e++) {
                probs[e] = (float) (1 / (1 + Math.exp(-logits[at + e])));
            }
        } else {
            float max = Float.NEGATIVE_INFINITY;
            for (int e = 0; e < experts; e++) {
                max = Math.max(max, logits[at + e]);
            }
            double sum = 0;
            for (int e = 0; e < experts; e++) {
                probs[e] = (float) Math.exp(logits[at + e] - max);
                sum += probs[e];
            }
            for (int e = 0; e < experts; e++) {
                probs[e] = (float) (probs[e] / sum);
            }
        }
        for (int e = 0; e < experts; e++) {
            scores[e] = selectionBias == null ? probs[e] : probs[e] + selectionBias[e];
        }
        float sum = 0;
        for (int k = 0; k < used; k++) { // the highest score left (the lowest index among equals)
            int best = 0;
            for (int e = 1; e < experts; e++) {
                if (scores[e] > scores[best]) {
                    best = e;
                }
            }
            chosen[t * used + k] = best;
            weights[t * used + k] = probs[best];
            sum += probs[best];
            scores[best] = Float.NEGATIVE_INFINITY;
        }
        float factor = config.normalize() ? 1 / Math.max(sum, MIN_WEIGHT_SUM) : 1;
        if (config.scale() != 0 && config.scale() != 1) {
            factor *= config.scale();
        }
        for (int k = 0; k < used; k++) {
            weights[t * used + k] *= factor;
        }
    }
}
