package io.kvasir.engine.testing;

import static io.kvasir.engine.testing.ScalarForward.add;
import static io.kvasir.engine.testing.ScalarForward.feedForward;
import static io.kvasir.engine.testing.ScalarForward.mul;
import static io.kvasir.engine.testing.ScalarForward.rmsNorm;
import static io.kvasir.engine.testing.ScalarForward.rope;

import io.kvasir.engine.backend.reference.ReferenceBackend;
import io.kvasir.engine.model.LlamaWeights;
import io.kvasir.engine.model.ModelConfig;
import java.util.ArrayList;
import java.util.List;

/**
 * A scalar Llama forward pass (GQA, interleaved RoPE), one token at a time, that keeps every
 * position's K/V in plain lists: no blocks, no pool, no tiles. Positions outside {@code window} are
 * masked; a layer that shares K/V (CLA) reads the lists of the layer that owns them.
 */
public final class BruteForceLlama {
    private final ModelConfig c;
    private final LlamaWeights w;
    private final int window;
    private final List<List<float[]>> keys = new ArrayList<>(), values = new ArrayList<>();

    public BruteForceLlama(ModelConfig c, LlamaWeights w, int window) {
        this.c = c;
        this.w = w;
        this.window = window;
        for (int l = 0; l < c.numLayers(); l++) {
            keys.add(new ArrayList<>());
            values.add(new ArrayList<>());
        }
    }

    /** Feeds {@code token} at {@code pos} (the next position) and returns its logits. */
    public float[] step(int token, int pos) {
        float[] x = new float[c.dim()];
        for (int i = 0; i < x.length; i++) {
            x[i] = ReferenceBackend.element(w.tokenEmbedding(), token, i);
        }
        int hd = c.headDim();
        for (int l = 0; l < c.numLayers(); l++) {
            LlamaWeights.Layer layer = w.layers().get(l);
            float[] xn = rmsNorm(x, layer.attnNorm(), c.rmsNormEps());
            float[] q = mul(layer.wq(), xn);
            for (int h = 0; h < c.numHeads(); h++) {
                rope(q, h * hd, pos, c.rope().dims(), c.rope().base());
            }
            int owner = l - l % c.kvShareFactor(); // the layer whose K/V this one attends to
            if (owner == l) {
                float[] k = mul(layer.wk(), xn), v = mul(layer.wv(), xn);
                for (int h = 0; h < c.numKvHeads(); h++) {
                    rope(k, h * hd, pos, c.rope().dims(), c.rope().base());
                }
                keys.get(l).add(k);
                values.get(l).add(v);
            }
            List<float[]> ks = keys.get(owner), vs = values.get(owner);
            float[] att = new float[c.queryDim()];
            for (int h = 0; h < c.numHeads(); h++) {
                int kvh = h / c.groupSize();
                double[] s = new double[pos + 1];
                double max = Double.NEGATIVE_INFINITY;
                for (int p = 0; p <= pos; p++) {
                    if (pos - p >= window) {
                        s[p] = Double.NEGATIVE_INFINITY; // masked: outside the window
                        continue;
                    }
                    double dot = 0;
                    for (int d = 0; d < hd; d++) {
                        dot += q[h * hd + d] * ks.get(p)[kvh * hd + d];
                    }
                    s[p] = dot / Math.sqrt(hd);
                    max = Math.max(max, s[p]);
                }
                double sum = 0;
                for (int p = 0; p <= pos; p++) {
                    s[p] = Math.exp(s[p] - max);
                    sum += s[p];
                }
                for (int p = 0; p <= pos; p++) {
                    for (int d = 0; d < hd; d++) {
                        att[h * hd + d] += (float) (s[p] / sum * vs.get(p)[kvh * hd + d]);
                    }
                }
            }
            add(x, mul(layer.wo(), att));
            feedForward(layer, x, c.rmsNormEps());
        }
        return mul(w.output(), rmsNorm(x, w.outputNorm(), c.rmsNormEps()));
    }
}
