package io.kvasir.testing;

/** Prompts of token ids for tests: deterministic, different per seed, inside a model's vocabulary. */
public final class Prompts {
    private Prompts() {
    }

    /** BOS (1), then {@code n - 1} ids in {@code [3, vocab)} spread by {@code seed}. */
    public static int[] of(int n, int seed, int vocab) {
        int[] t = new int[n];
        t[0] = 1;
        for (int i = 1; i < n; i++) {
            t[i] = 3 + (i * 7919 + seed * 31) % (vocab - 3);
        }
        return t;
    }
}
