package io.kvasir.engine.model;

/**
 * Rotary position embedding: each rotated pair {@code (x0, x1)} of a head turns by
 * {@code position · invFreq[i]}, with {@code invFreq[i] = base^(-2i/dims) / linearScale} (divided
 * by the model's frequency factors where it has them). Pairs are adjacent (interleaved, GGUF Llama)
 * or half a head apart (NeoX, Qwen2, HF checkpoints).
 */
final class Rope {
    private final double[] invFreq; // (dims/2) angle per position of each rotated pair
    private final boolean interleaved;

    Rope(RopeConfig rope) {
        invFreq = new double[rope.dims() / 2];
        for (int i = 0; i < invFreq.length; i++) {
            double f = Math.pow(rope.base(), -2.0 * i / rope.dims()) / rope.linearScale();
            invFreq[i] = rope.freqFactors() == null ? f : f / rope.freqFactors()[i];
        }
        interleaved = rope.layout() == RopeLayout.INTERLEAVED;
    }

    /** The cosines and sines of every token's position, once per step. */
    void prepare(Batch batch, ForwardBuffers b) {
        int half = invFreq.length;
        for (int t = 0; t < batch.size; t++) {
            for (int i = 0; i < half; i++) {
                double theta = batch.positions[t] * invFreq[i];
                b.ropeCos[t * half + i] = (float) Math.cos(theta);
                b.ropeSin[t * half + i] = (float) Math.sin(theta);
            }
        }
    }

    /** Rotates the rope dims starting at {@code offset} of each of {@code count} vectors (stride {@code stride}) per token. */
    void rotate(float[] vec, int count, int stride, int offset, int n, ForwardBuffers b) {
        int half = invFreq.length;
        for (int t = 0; t < n; t++) {
            for (int h = 0; h < count; h++) {
                int base = (t * count + h) * stride + offset;
                for (int i = 0; i < half; i++) {
                    int i0 = interleaved ? base + 2 * i : base + i;
                    int i1 = interleaved ? i0 + 1 : i0 + half;
                    float cos = b.ropeCos[t * half + i], sin = b.ropeSin[t * half + i];
                    float x0 = vec[i0], x1 = vec[i1];
                    vec[i0] = x0 * cos - x1 * sin;
                    vec[i1] = x0 * sin + x1 * cos;
                }
            }
        }
    }
}
