package io.kvasir.engine.testing;

import io.kvasir.engine.backend.reference.ReferenceBackend;
import io.kvasir.engine.model.LlamaWeights;
import io.kvasir.engine.tensor.WeightMatrix;

/**
 * Plain scalar building blocks (double accumulators, nothing shared with the engine's kernels) for
 * the independent forward passes tests compare the engine against.
 */
public final class ScalarForward {
    private ScalarForward() {
    }

    public static float[] rmsNorm(float[] x, float[] weight, double eps) {
        double ss = 0;
        for (float v : x) {
            ss += v * v;
        }
        double scale = 1 / Math.sqrt(ss / x.length + eps);
        float[] out = new float[x.length];
        for (int i = 0; i < x.length; i++) {
            out[i] = (float) (x[i] * scale * weight[i]);
        }
        return out;
    }

    /** {@code m · x}. */
    public static float[] mul(WeightMatrix m, float[] x) {
        float[] out = new float[m.rows()];
        for (int r = 0; r < m.rows(); r++) {
            double s = 0;
            for (int i = 0; i < m.cols(); i++) {
                s += ReferenceBackend.element(m, r, i) * x[i];
            }
            out[r] = (float) s;
        }
        return out;
    }

    public static float[] row(WeightMatrix m, int r) {
        float[] out = new float[m.cols()];
        for (int i = 0; i < out.length; i++) {
            out[i] = ReferenceBackend.element(m, r, i);
        }
        return out;
    }

    /** {@code x += y}. */
    public static void add(float[] x, float[] y) {
        for (int i = 0; i < x.length; i++) {
            x[i] += y[i];
        }
    }

    /** Interleaved (GGUF NORM) rotation of {@code dims} values at {@code off}: pairs (2i, 2i+1). */
    public static void rope(float[] v, int off, int pos, int dims, double base) {
        for (int i = 0; i < dims / 2; i++) {
            double theta = pos * Math.pow(base, -2.0 * i / dims);
            double cos = Math.cos(theta), sin = Math.sin(theta);
            float a = v[off + 2 * i], b = v[off + 2 * i + 1];
            v[off + 2 * i] = (float) (a * cos - b * sin);
            v[off + 2 * i + 1] = (float) (a * sin + b * cos);
        }
    }

    /** {@code x += W_down · (silu(W_gate · norm(x)) ⊙ (W_up · norm(x)))}. */
    public static void feedForward(LlamaWeights.Layer layer, float[] x, double eps) {
        float[] xf = rmsNorm(x, layer.ffnNorm(), eps);
        float[] gate = mul(layer.wGate(), xf), up = mul(layer.wUp(), xf);
        for (int i = 0; i < gate.length; i++) {
            gate[i] = (float) (gate[i] / (1 + Math.exp(-gate[i])) * up[i]);
        }
        add(x, mul(layer.wDown(), gate));
    }
}
