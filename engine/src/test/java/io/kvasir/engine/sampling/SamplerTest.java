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

    private static int[] draw(SamplingParams params, int n) {
        var sampler = new Sampler(params, LOGITS.length);
        int[] out = new int[n];
        for (int i = 0; i < n; i++) out[i] = sampler.sample(LOGITS);
        return out;
    }
}
