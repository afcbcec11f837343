package io.kvasir.engine.model;

import io.kvasir.engine.backend.Backend;

/** RMSNorm, the one every norm of the model is: {@code out = x / sqrt(mean(x²) + eps) * weight}, row by row. */
final class RmsNorm {
    private RmsNorm() {
    }

    /**
     * Normalizes the first {@code len} floats of each of {@code n} rows that lie {@code stride} apart
     * in {@code x}, into the same places of {@code out} ({@code out} may be {@code x}).
     */
    static void apply(Backend backend, float eps, float[] x, int stride, int len, float[] weight, float[] out, int n) {
        for (int t = 0; t < n; t++) {
            int o = t * stride;
            float sumSq = backend.dot(x, o, x, o, len);
            float scale = (float) (1.0 / Math.sqrt(sumSq / len + eps));
            for (int i = 0; i < len; i++) {
                out[o + i] = x[o + i] * scale * weight[i];
            }
        }
    }
}
