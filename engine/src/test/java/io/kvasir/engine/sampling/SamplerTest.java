package io.kvasir.engine.sampling;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class SamplerTest {
    private static final float[] LOGITS = {1.0f, 3.0f, 2.0f, 0.5f, 2.9f, -1f};

    @Test
    void greedy_takesTheArgmax() {
        assertEquals(1, new Sampler(SamplingParams.GREEDY, LOGITS.length).sample(LOGITS));
    }

    @Test
    void sameSeed_sameTokens_otherSeed_otherTokens() {
        var params = new SamplingParams(1.0f, 0, 1.0f, 42);
        int[] a = draw(params, 50), b = draw(params, 50), c = draw(new SamplingParams(1.0f, 0, 1.0f, 43), 50);
        assertArrayEquals(a, b);
        assertTrue(!java.util.Arrays.equals(a, c), "a different seed gives a different sequence");
    }

    @Test
    void topK1_andTinyTopP_areGreedy() {
        for (int t : draw(new SamplingParams(5f, 1, 1f, 1), 100)) assertEquals(1, t);
        for (int t : draw(new SamplingParams(5f, 0, 1e-6f, 1), 100)) assertEquals(1, t);
    }

    @Test
    void topK2_onlyDrawsTheTwoMostLikely() {
        for (int t : draw(new SamplingParams(10f, 2, 1f, 3), 500)) assertTrue(t == 1 || t == 4, "token " + t);
    }

    @Test
    void topP_keepsTheSmallestSetReachingP() {
        // softmax(LOGITS): token 1 ≈ 0.38, 4 ≈ 0.34, 2 ≈ 0.14 …: p = 0.7 needs tokens 1 and 4 only
        for (int t : draw(new SamplingParams(1f, 0, 0.7f, 5), 500)) assertTrue(t == 1 || t == 4, "token " + t);
    }

    @Test
    void frequencies_followTheSoftmax() {
        int n = 200_000;
        int[] counts = new int[LOGITS.length];
        for (int t : draw(new SamplingParams(1f, 0, 1f, 11), n)) counts[t]++;
        double sum = 0;
        for (float l : LOGITS) sum += Math.exp(l);
        for (int i = 0; i < LOGITS.length; i++) {
            double expected = Math.exp(LOGITS[i]) / sum;
            assertEquals(expected, counts[i] / (double) n, 0.005, "frequency of token " + i);
        }
    }

    @Test
    void badParameters_areRejectedWithTheirName() {
        assertTrue(assertThrows(IllegalArgumentException.class, () -> new SamplingParams(-1f, 0, 1f, 0)).getMessage().contains("temperature"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> new SamplingParams(1f, -2, 1f, 0)).getMessage().contains("top_k"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> new SamplingParams(1f, 0, 0f, 0)).getMessage().contains("top_p"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> new SamplingParams(1f, 0, 1.5f, 0)).getMessage().contains("top_p"));
    }

    @Test
    void logitBias_forcesOrForbidsATokenGreedyOrSampled() {
        for (SamplingParams p : new SamplingParams[] {bias(0, 0, 0, 1, 5, 100f), bias(1, 0, 0, 1, 5, 100f)}) {
            Sampler s = new Sampler(p, LOGITS.length);
            for (int i = 0; i < 200; i++) {
                assertEquals(5, s.sample(LOGITS.clone()), "a bias of +100 forces token 5 (logit -1)");
            }
        }
        Sampler never = new Sampler(bias(0, 0, 0, 1, 1, -100f), LOGITS.length);
        assertEquals(4, never.sample(LOGITS.clone()), "-100 on the argmax: the runner-up");
        assertTrue(assertThrows(IllegalArgumentException.class, () -> new Sampler(bias(0, 0, 0, 1, 6, 1f), 6))
                .getMessage().contains("logit_bias names token 6, outside the vocabulary [0, 6)"));
    }

    @Test
    void presenceAndFrequencyPenalties_subtractPerGeneratedToken() {
        // token 1 (3.0) generated once: presence 0.5 leaves 2.5 < 2.9 (token 4)
        Sampler presence = new Sampler(new SamplingParams(0, 0, 1, 0, 0, 0.5f, 0, 1, java.util.Map.of()), 6);
        presence.accepted(1);
        assertEquals(4, presence.sample(LOGITS.clone()));
        // frequency 0.06 per time: after one, 2.94 > 2.9 still; after two, 2.88 < 2.9
        Sampler frequency = new Sampler(new SamplingParams(0, 0, 1, 0, 0, 0, 0.06f, 1, java.util.Map.of()), 6);
        frequency.accepted(1);
        assertEquals(1, frequency.sample(LOGITS.clone()));
        frequency.accepted(1);
        assertEquals(4, frequency.sample(LOGITS.clone()));
        float[] adjusted = LOGITS.clone();
        new Sampler(new SamplingParams(0, 0, 1, 0, 0, 0, 0.06f, 1, java.util.Map.of()), 6).sample(adjusted);
        assertArrayEquals(LOGITS, adjusted, "nothing generated yet: nothing penalized");
    }

    @Test
    void repetitionPenalty_dividesPositiveAndMultipliesNegativeLogitsOfSeenTokens() {
        Sampler s = new Sampler(new SamplingParams(0, 0, 1, 0, 0, 0, 0, 2f, java.util.Map.of()), 6);
        s.prompt(new int[] {1, 5});
        float[] logits = LOGITS.clone();
        assertEquals(4, s.sample(logits), "token 1 (a prompt token) halved to 1.5");
        assertEquals(1.5f, logits[1]);
        assertEquals(-2f, logits[5], "negative: doubled");
        assertEquals(2.9f, logits[4], "unseen: unchanged");
    }

    @Test
    void minP_dropsTokensBelowItsShareOfTheLikeliest() {
        // softmax at T = 1: p(1) ≈ 0.40, p(4) ≈ 0.36, p(2) ≈ 0.15, p(0) ≈ 0.05: min_p 0.5 keeps 1 and 4
        for (int t : draw(new SamplingParams(1f, 0, 1f, 9, 0.5f, 0, 0, 1, java.util.Map.of()), 500)) {
            assertTrue(t == 1 || t == 4, "token " + t);
        }
        for (int t : draw(new SamplingParams(1f, 0, 1f, 9, 1f, 0, 0, 1, java.util.Map.of()), 100)) {
            assertEquals(1, t, "min_p 1: only the likeliest");
        }
    }

    @Test
    void logprobs_areTheRawLogSoftmaxWithTheLikeliestFirst() {
        // a bias and a temperature change the draw, not the reported log-probabilities
        Sampler s = new Sampler(new SamplingParams(0.5f, 0, 1, 3, 0, 0, 0, 1, java.util.Map.of(5, 100f), 3), 6);
        int token = s.sample(LOGITS.clone());
        assertEquals(5, token);
        double logZ = 0;
        for (float l : LOGITS) logZ += Math.exp(l);
        logZ = Math.log(logZ);
        TokenLogprobs lp = s.lastLogprobs();
        assertEquals(LOGITS[5] - logZ, lp.logprob(), 1e-6);
        assertArrayEquals(new int[] {1, 4, 2}, lp.topTokens());
        for (int r = 0; r < 3; r++) {
            assertEquals(LOGITS[lp.topTokens()[r]] - logZ, lp.topLogprobs()[r], 1e-6);
        }
        assertEquals(0, new Sampler(new SamplingParams(0, 0, 1, 0, 0, 0, 0, 1, java.util.Map.of(), 0), 6)
                .logprobsOf(LOGITS, 0, 3).topTokens().length, "top_logprobs 0: the chosen token's only");
        assertEquals(null, new Sampler(SamplingParams.GREEDY, 6).logprobsOf(LOGITS, 0, 1), "not asked for");
    }

    @Test
    void badControls_areRejectedWithTheirName() {
        assertTrue(assertThrows(IllegalArgumentException.class, () -> new SamplingParams(1f, 0, 1f, 0, 1.5f, 0, 0, 1,
                java.util.Map.of())).getMessage().contains("min_p"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> new SamplingParams(1f, 0, 1f, 0, 0, 3f, 0, 1,
                java.util.Map.of())).getMessage().contains("presence_penalty"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> new SamplingParams(1f, 0, 1f, 0, 0, 0, -3f, 1,
                java.util.Map.of())).getMessage().contains("frequency_penalty"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> new SamplingParams(1f, 0, 1f, 0, 0, 0, 0, 0,
                java.util.Map.of())).getMessage().contains("repetition_penalty"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> bias(0, 0, 0, 1, 2, 101f)).getMessage()
                .contains("logit_bias of token 2"));
    }

    private static SamplingParams bias(float temperature, float presence, float frequency, float repetition, int token,
            float value) {
        return new SamplingParams(temperature, 0, 1, 7, 0, presence, frequency, repetition, java.util.Map.of(token, value));
    }

    private static int[] draw(SamplingParams params, int n) {
        var sampler = new Sampler(params, LOGITS.length);
        int[] out = new int[n];
        for (int i = 0; i < n; i++) out[i] = sampler.sample(LOGITS.clone()); // biases and penalties adjust in place
        return out;
    }
}
