package io.kvasir.engine.model;

import static io.kvasir.engine.testing.ScalarForward.add;
import static io.kvasir.engine.testing.ScalarForward.feedForward;
import static io.kvasir.engine.testing.ScalarForward.mul;
import static io.kvasir.engine.testing.ScalarForward.rmsNorm;
import static io.kvasir.engine.testing.ScalarForward.rope;
import static io.kvasir.engine.testing.ScalarForward.row;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.kvasir.engine.Model;
import io.kvasir.engine.backend.Backend;
import io.kvasir.engine.backend.cpu.VectorCpuBackend;
import io.kvasir.engine.backend.reference.ReferenceBackend;
import io.kvasir.engine.kv.BlockTable;
import io.kvasir.engine.tensor.WeightMatrix;
import io.kvasir.testing.Golden;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The engine's absorbed MLA (attention over cached latents, queries folded into latent space)
 * against an independent, plain forward pass written here in the expanded form: every head's
 * keys {@code [W_UK·c | k_pe]} and values {@code W_UV·c} built for every cached position, then
 * ordinary softmax attention. Decoding token by token, the logits must agree at every position.
 */
class MlaExpandedReferenceTest {

    @ParameterizedTest(name = "{0} on {1}")
    @CsvSource({"ds2-tiny,reference", "ds2-tiny,vector", "ds2-qlora,vector"})
    void absorbedDecodeEqualsExpandedAttentionAtEveryPosition(String name, String backendKind) {
        Golden.Reference ref = Golden.reference(name);
        int[] tokens = new int[ref.prompt().length + ref.greedy().length];
        System.arraycopy(ref.prompt(), 0, tokens, 0, ref.prompt().length);
        System.arraycopy(ref.greedy(), 0, tokens, ref.prompt().length, ref.greedy().length);
        try (Backend backend = backendKind.equals("vector") ? new VectorCpuBackend(2) : new ReferenceBackend();
                Model model = Model.load(Golden.model(name), backend)) {
            LlamaModel lm = model.transformer();
            Expanded expanded = new Expanded(lm.config(), lm.weights());
            BlockTable table = new BlockTable(lm.newKvPool(5, tokens.length / 5 + 1)); // odd block size: many boundaries
            ForwardBuffers buf = lm.newBuffers(1);
            float worst = 0;
            for (int pos = 0; pos < tokens.length; pos++) {
                lm.forward(tokens, pos, pos + 1, table, buf);
                float[] want = expanded.step(tokens[pos], pos);
                for (int i = 0; i < want.length; i++) {
                    worst = Math.max(worst, Math.abs(want[i] - buf.logits[i]));
                }
            }
            System.out.printf("%s on %s: absorbed vs expanded MLA, worst |logit diff| over %d positions = %.2e%n",
                    name, backendKind, tokens.length, worst);
            assertTrue(worst < 1e-4, "worst diff " + worst);
        }
    }

    /** A scalar deepseek2 forward pass in the expanded form, one token at a time, its own KV lists. */
    private static final class Expanded {
        private final ModelConfig c;
        private final MlaConfig m;
        private final LlamaWeights w;
        private final List<List<float[]>> latents = new ArrayList<>();  // per layer, per position: c
        private final List<List<float[]>> ropeKeys = new ArrayList<>(); // per layer, per position: k_pe

        Expanded(ModelConfig c, LlamaWeights w) {
            this.c = c;
            this.m = c.mla();
            this.w = w;
            for (int l = 0; l < c.numLayers(); l++) {
                latents.add(new ArrayList<>());
                ropeKeys.add(new ArrayList<>());
            }
        }

        float[] step(int token, int pos) {
            float[] x = row(w.tokenEmbedding(), token);
            int heads = c.numHeads(), nope = m.qkNopeDim(), rope = m.qkRopeDim(), rank = m.kvLoraRank(), vDim = m.vHeadDim();
            for (int l = 0; l < c.numLayers(); l++) {
                LlamaWeights.Layer layer = w.layers().get(l);
                LlamaWeights.Mla mw = layer.mla();
                float[] xn = rmsNorm(x, layer.attnNorm(), c.rmsNormEps());
                float[] q = mw.wqA() == null ? mul(layer.wq(), xn) : mul(mw.wqB(), rmsNorm(mul(mw.wqA(), xn), mw.qANorm(), c.rmsNormEps()));
                float[] kva = mul(mw.wKvA(), xn);
                float[] lat = new float[rank];
                System.arraycopy(kva, 0, lat, 0, rank);
                lat = rmsNorm(lat, mw.kvANorm(), c.rmsNormEps());
                float[] kpe = new float[rope];
                System.arraycopy(kva, rank, kpe, 0, rope);
                rope(kpe, 0, pos, m.qkRopeDim(), c.rope().base());
                latents.get(l).add(lat);
                ropeKeys.get(l).add(kpe);
                float[] att = new float[heads * vDim];
                for (int h = 0; h < heads; h++) {
                    int qOff = h * (nope + rope);
                    rope(q, qOff + nope, pos, m.qkRopeDim(), c.rope().base());
                    WeightMatrix kB = mw.kB().get(h), vB = mw.vB().get(h);
                    double[] scores = new double[pos + 1];
                    double max = Double.NEGATIVE_INFINITY;
                    for (int p = 0; p <= pos; p++) {
                        float[] cp = latents.get(l).get(p);
                        double s = 0;
                        for (int j = 0; j < nope; j++) { // k_nope[j] = Σ_i W_UK[j][i] c[i], W_UK = kB^T
                            double k = 0;
                            for (int i = 0; i < rank; i++) {
                                k += ReferenceBackend.element(kB, i, j) * cp[i];
                            }
                            s += q[qOff + j] * k;
                        }
                        for (int j = 0; j < rope; j++) {
                            s += q[qOff + nope + j] * ropeKeys.get(l).get(p)[j];
                        }
                        scores[p] = s / Math.sqrt(nope + rope);
                        max = Math.max(max, scores[p]);
                    }
                    double sum = 0;
                    for (int p = 0; p <= pos; p++) {
                        scores[p] = Math.exp(scores[p] - max);
                        sum += scores[p];
                    }
                    for (int p = 0; p <= pos; p++) {
                        float[] v = mul(vB, latents.get(l).get(p));
                        for (int j = 0; j < vDim; j++) {
                            att[h * vDim + j] += (float) (scores[p] / sum * v[j]);
                        }
                    }
                }
                add(x, mul(layer.wo(), att));
                feedForward(layer, x, c.rmsNormEps());
            }
            return mul(w.output(), rmsNorm(x, w.outputNorm(), c.rmsNormEps()));
        }





    }
}
