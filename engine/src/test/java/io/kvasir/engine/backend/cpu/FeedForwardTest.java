package io.kvasir.engine.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.kvasir.engine.backend.Backend;
import io.kvasir.engine.backend.reference.ReferenceBackend;
import io.kvasir.engine.tensor.DType;
import io.kvasir.engine.tensor.WeightMatrix;
import io.kvasir.engine.testing.TestTensors;
import java.lang.foreign.Arena;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * {@link VectorCpuBackend#feedForward}: on the token-vector path gate and up write transposed
 * outputs that down reads as its input. It must give what the three matmuls and SwiGLU give one by
 * one (the interface's default), to the last bit of SwiGLU's exp, and the scalar reference within rounding.
 * Token counts: below the token-vector path (8), one vector (16), padding lanes (37), a prefill
 * chunk (64).
 */
class FeedForwardTest {

    @ParameterizedTest(name = "{0}, {1} tokens")
    @CsvSource({"Q8_0,8", "Q8_0,16", "Q8_0,37", "Q8_0,64", "F16,37", "F32,21", "BF16,64"})
    void feedForward_matchesTheUnfusedCalls_andTheReference(DType dtype, int tokens) {
        var random = new Random(tokens * 31L + dtype.ordinal());
        int dim = 64, hidden = 128;
        try (Arena arena = Arena.ofShared(); var backend = new VectorCpuBackend(2)) {
            WeightMatrix gate = TestTensors.random(arena, dtype, hidden, dim, random);
            WeightMatrix up = TestTensors.random(arena, dtype, hidden, dim, random);
            WeightMatrix down = TestTensors.random(arena, dtype, dim, hidden, random);
            float[] x = new float[tokens * dim];
            for (int i = 0; i < x.length; i++) x[i] = (float) random.nextGaussian();

            float[] fused = run(backend, gate, up, down, x, tokens);
            float[] unfused = new float[tokens * dim], hGate = new float[tokens * hidden], hUp = new float[tokens * hidden];
            backend.matmul(gate, x, hGate, tokens);
            backend.matmul(up, x, hUp, tokens);
            backend.swiGlu(hGate, hUp, tokens * hidden);
            backend.matmul(down, hGate, unfused, tokens);
            // the same arithmetic, but SwiGLU's vector EXP gives the last bit differently before and after
            // the JIT compiles it (the fallback and the intrinsic differ by an ulp), which may happen between the runs
            for (int i = 0; i < unfused.length; i++) {
                assertEquals(unfused[i], fused[i], 1e-6 * (1 + Math.abs(unfused[i])), "fused vs unfused at " + i);
            }

            float[] reference = run(new ReferenceBackend(), gate, up, down, x, tokens);
            for (int i = 0; i < reference.length; i++) {
                assertEquals(reference[i], fused[i], 1e-4 * hidden * (1 + Math.abs(reference[i])), "token " + i / dim + " dim " + i % dim);
            }
        }
    }

    /** A second call with fewer tokens reuses the grown scratch: stale lanes of the first must not leak in. */
    @ParameterizedTest(name = "{0} then {1} tokens")
    @CsvSource({"64,20", "37,16"})
    void feedForward_reusesScratch_withoutStaleLanes(int first, int second) {
        var random = new Random(first);
        int dim = 32, hidden = 64;
        try (Arena arena = Arena.ofShared(); var backend = new VectorCpuBackend(2)) {
            WeightMatrix gate = TestTensors.random(arena, DType.Q8_0, hidden, dim, random);
            WeightMatrix up = TestTensors.random(arena, DType.Q8_0, hidden, dim, random);
            WeightMatrix down = TestTensors.random(arena, DType.Q8_0, dim, hidden, random);
            float[] big = new float[first * dim];
            for (int i = 0; i < big.length; i++) big[i] = 100f * (float) random.nextGaussian();
            run(backend, gate, up, down, big, first);
            float[] x = new float[second * dim];
            for (int i = 0; i < x.length; i++) x[i] = (float) random.nextGaussian();
            float[] afterReuse = run(backend, gate, up, down, x, second);
            try (var fresh = new VectorCpuBackend(2)) {
                assertArrayEquals(run(fresh, gate, up, down, x, second), afterReuse);
            }
        }
    }

    private static float[] run(Backend backend, WeightMatrix gate, WeightMatrix up, WeightMatrix down, float[] x, int tokens) {
        int hidden = gate.rows(), dim = down.rows();
        float[] out = new float[tokens * dim];
        backend.feedForward(gate, up, down, x, new float[tokens * hidden], new float[tokens * hidden], out, tokens);
        return out;
    }
}
