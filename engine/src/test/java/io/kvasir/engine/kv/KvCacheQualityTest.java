package io.kvasir.engine.kv;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.kvasir.engine.Model;
import io.kvasir.engine.backend.cpu.VectorCpuBackend;
import io.kvasir.engine.model.ForwardBuffers;
import io.kvasir.engine.model.LlamaModel;
import io.kvasir.engine.sampling.Sampler;
import io.kvasir.testing.Golden;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * What a narrower KV cache costs: on the golden models, 64 teacher-forced positions with the cache
 * in each type against the same positions with an f32 cache: top-1 agreement and mean KL divergence
 * of the next-token distributions. Prints the figures (docs/exactness.md's table comes from here).
 */
class KvCacheQualityTest {
    private static final int POSITIONS = 64;

    @ParameterizedTest
    @ValueSource(strings = {"llama-gqa", "llama-wide", "qwen2-tiny", "llama-gqa-f16", "ds2-tiny"})
    void narrowCachesAgreeWithF32(String name) {
        try (var backend = new VectorCpuBackend(2); Model model = Model.load(Golden.model(name), backend)) {
            LlamaModel lm = model.transformer();
            int vocab = lm.config().vocabSize();
            int[] tokens = new int[POSITIONS];
            tokens[0] = 1;
            for (int i = 1; i < POSITIONS; i++) {
                tokens[i] = 3 + (i * 7919 + 13) % (vocab - 3);
            }
            float[][] reference = logits(lm, tokens, KvCacheType.F32);
            for (KvCacheType type : new KvCacheType[] {KvCacheType.F16, KvCacheType.BF16, KvCacheType.FP8, KvCacheType.INT8}) {
                float[][] narrow = logits(lm, tokens, type);
                int agree = 0;
                double kl = 0;
                float widestMissedMargin = 0; // f32's lead of its top token where the narrow cache chose another
                for (int p = 0; p < POSITIONS; p++) {
                    int top = Sampler.argmax(reference[p]), chosen = Sampler.argmax(narrow[p]);
                    if (top == chosen) {
                        agree++;
                    } else {
                        widestMissedMargin = Math.max(widestMissedMargin, reference[p][top] - reference[p][chosen]);
                    }
                    kl += klDivergence(reference[p], narrow[p]);
                }
                double top1 = (double) agree / POSITIONS, meanKl = kl / POSITIONS;
                System.out.printf("kv-cache quality %-14s %-4s top-1 %.4f  mean KL %.3e  (%d positions%s)%n", name,
                        type.id(), top1, meanKl, POSITIONS, agree == POSITIONS ? ""
                                : String.format(", misses where f32 led by at most %.4f", widestMissedMargin));
                // fp8 keeps 3 mantissa bits: on the sharpest random model it flips near-ties
                assertTrue(top1 >= (type == KvCacheType.FP8 ? 0.95 : 0.98), name + " " + type.id() + " top-1 " + top1);
                assertTrue(meanKl <= 1e-3, name + " " + type.id() + " mean KL " + meanKl);
            }
        }
    }

    /** The next-token logits after each position, the tokens fed one at a time through a pool of {@code type}. */
    private static float[][] logits(LlamaModel lm, int[] tokens, KvCacheType type) {
        BlockTable table = new BlockTable(lm.newKvPool(16, (tokens.length + 15) / 16, type));
        ForwardBuffers buf = lm.newBuffers(1);
        float[][] out = new float[tokens.length][];
        for (int p = 0; p < tokens.length; p++) {
            lm.forward(tokens, p, p + 1, table, buf);
            out[p] = buf.logits.clone();
        }
        return out;
    }

    private static double klDivergence(float[] p, float[] q) {
        double[] lp = logSoftmax(p), lq = logSoftmax(q);
        double kl = 0;
        for (int i = 0; i < lp.length; i++) {
            kl += Math.exp(lp[i]) * (lp[i] - lq[i]);
        }
        return Math.max(kl, 0);
    }

    private static double[] logSoftmax(float[] x) {
        double max = Double.NEGATIVE_INFINITY, sum = 0;
        for (float v : x) max = Math.max(max, v);
        for (float v : x) sum += Math.exp(v - max);
        double log = max + Math.log(sum);
        double[] out = new double[x.length];
        for (int i = 0; i < x.length; i++) out[i] = x[i] - log;
        return out;
    }
}
