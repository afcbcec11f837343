package io.kvasir.engine.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.kvasir.engine.backend.reference.ReferenceBackend;
import io.kvasir.engine.tensor.DType;
import io.kvasir.engine.tensor.WeightMatrix;
import io.kvasir.engine.testing.TestTensors;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Random;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Every dtype's row kernels, on the vector path (at the JVM's width: the build runs this class at
 * the CPU's widest and again with {@code -Dkvasir.cpu.vectorBits=128}) and on the scalar path,
 * against {@link ReferenceBackend}. Tolerance: F32 accumulation order only.
 */
class RowKernelTest {

    /** ggml's 4- to 6-bit formats: random blocks, the fast paths against the reference's per-element reading. */
    @ParameterizedTest(name = "{0} on the {1} path")
    @CsvSource({"Q4_0,VECTOR", "Q4_0,SCALAR", "Q4_1,VECTOR", "Q4_1,SCALAR", "Q5_0,VECTOR", "Q5_0,SCALAR",
            "Q5_1,VECTOR", "Q5_1,SCALAR", "Q4_K,VECTOR", "Q4_K,SCALAR", "Q5_K,VECTOR", "Q5_K,SCALAR",
            "Q6_K,VECTOR", "Q6_K,SCALAR", "Q2_K,VECTOR", "Q2_K,SCALAR", "Q3_K,VECTOR", "Q3_K,SCALAR"})
    void lowBitMatmul_matchesReference(DType dtype, VectorCpuBackend.Path path) {
        var random = new Random(7);
        int cols = 2 * dtype.blockSize;
        try (Arena arena = Arena.ofShared(); var backend = new VectorCpuBackend(2, path)) {
            WeightMatrix w = TestTensors.randomBlocks(arena, dtype, 13, cols, random);
            assertMatmulMatchesReference(backend, w, 3, random);
            float[] row = new float[cols], refRow = new float[cols];
            backend.dequantizeRow(w, 5, row, 0);
            new ReferenceBackend().dequantizeRow(w, 5, refRow, 0);
            org.junit.jupiter.api.Assertions.assertArrayEquals(refRow, row);
        }
    }

    @ParameterizedTest(name = "{0} on the {1} path")
    @CsvSource({"F32,VECTOR", "F32,SCALAR", "F16,VECTOR", "F16,SCALAR", "BF16,VECTOR", "BF16,SCALAR", "Q8_0,VECTOR", "Q8_0,SCALAR"})
    void matmul_matchesReference(DType dtype, VectorCpuBackend.Path path) {
        System.out.printf("%s kernels at %d bits%n", dtype, path == VectorCpuBackend.Path.VECTOR ? Vectors.BITS : 0);
        var random = new Random(42);
        int cols = dtype == DType.Q8_0 ? 96 : 75; // odd widths exercise the scalar tail
        try (Arena arena = Arena.ofShared(); var backend = new VectorCpuBackend(2, path)) {
            WeightMatrix w = TestTensors.random(arena, dtype, 13, cols, random);
            assertMatmulMatchesReference(backend, w, 3, random);
            float[] row = new float[cols], refRow = new float[cols];
            backend.dequantizeRow(w, 5, row, 0);
            new ReferenceBackend().dequantizeRow(w, 5, refRow, 0);
            org.junit.jupiter.api.Assertions.assertArrayEquals(refRow, row);
        }
    }

    /**
     * Each matmul path by token count: row dots (1 token; F16 via its prescaled dot), the tiles for
     * a few tokens (2 to 15: on 512-bit vectors Q8_0 and F16 take the 2-row tiles of 8, 4 and 1
     * tokens, the others the k-vector tile's 4×4 and 4×1), the token-vector tile (16, 37, 64: 8×32
     * tiles, an 8×16 tail, padding lanes).
     */
    @ParameterizedTest(name = "{0}, {1} tokens")
    @CsvSource({"F32,1", "F16,1", "Q8_0,1", "F16,3", "Q8_0,2", "F16,8", "Q8_0,8", "Q8_0,13", "F16,15", "BF16,8", "F32,5",
            "Q8_0,16", "F16,37", "Q8_0,37", "BF16,64", "F32,37"})
    void matmul_everyPathByTokenCount_matchesReference(DType dtype, int tokens) {
        var random = new Random(tokens);
        int cols = dtype == DType.Q8_0 ? 96 : 75;
        try (Arena arena = Arena.ofShared(); var backend = new VectorCpuBackend(2)) {
            assertMatmulMatchesReference(backend, TestTensors.random(arena, dtype, 24, cols, random), tokens, random);
        }
    }

    /**
     * One token over wide rows (ffn_down's width): 4-row dots sharing each x load, and single-row
     * dots for the rows left over at a range's end (202 rows: ranges of 12 end in 12 or 10).
     */
    @ParameterizedTest(name = "{0}")
    @CsvSource({"Q8_0", "F16", "F32"})
    void matmul_oneTokenWideRows_matchesReference(DType dtype) {
        var random = new Random(7);
        try (Arena arena = Arena.ofShared(); var backend = new VectorCpuBackend(2)) {
            assertMatmulMatchesReference(backend, TestTensors.random(arena, dtype, 202, 4096, random), 1, random);
        }
    }

    /** Tolerance: F32 accumulation order only. */
    private static void assertMatmulMatchesReference(VectorCpuBackend backend, WeightMatrix w, int tokens, Random random) {
        int rows = w.rows(), cols = w.cols();
        float[] x = new float[tokens * cols];
        for (int i = 0; i < x.length; i++) x[i] = (float) random.nextGaussian();
        float[] expected = new float[tokens * rows], actual = new float[tokens * rows];
        new ReferenceBackend().matmul(w, x, expected, tokens);
        backend.matmul(w, x, actual, tokens);
        for (int i = 0; i < expected.length; i++) {
            assertEquals(expected[i], actual[i], 1e-5 * cols, "token " + i / rows + " row " + i % rows);
        }
    }

    /** The vector half→float widening is exact for every finite half, subnormals included. */
    @Test
    void f16Widening_isExactForEveryFiniteHalf() {
        var sp = Vectors.F;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment seg = arena.allocate(2L * 65536);
            for (int i = 0; i < 65536; i++) {
                seg.set(ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 2L * i, (short) i);
            }
            float[] lanes = new float[sp.length()];
            for (int i = 0; i < 65536; i += sp.length()) {
                F16Rows.load(seg, 2L * i).intoArray(lanes, 0);
                for (int j = 0; j < lanes.length; j++) {
                    short bits = (short) (i + j);
                    if ((bits & 0x7C00) == 0x7C00) continue; // infinities and NaNs never occur in weights
                    assertEquals(Float.float16ToFloat(bits), lanes[j], "half 0x" + Integer.toHexString((i + j) & 0xFFFF));
                }
            }
        }
    }

    /**
     * The prescaled F16 path gives every finite half exactly: normals through the 3-op widening
     * against x·2^112 (single rows and the 4-row dot of wide rows, vector lanes and scalar tails;
     * with several tokens the 2-row tiles of 8, 4 and 1 tokens), subnormals (0x0001..0x03FF,
     * 0x8001..0x83FF) through {@link F16Subnormals}, zeros as zeros. Each token's x is one-hot (token
     * j at column c + j), so each output is one weight times 1.
     */
    @ParameterizedTest(name = "{0} columns, {1} tokens")
    @CsvSource({"24,1", "4104,1", "24,13", "4104,8"})
    void f16Prescaled_isExactForEveryFiniteHalf(int cols, int tokens) {
        int rows = Math.max(64, (65536 + cols - 1) / cols); // 64: row ranges of 4, for the 4-row dot
        try (Arena arena = Arena.ofShared(); var backend = new VectorCpuBackend(2)) {
            MemorySegment seg = arena.allocate(2L * rows * cols);
            for (int i = 0; i < 65536; i++) {
                boolean finite = (i & 0x7C00) != 0x7C00;
                seg.set(ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 2L * i, (short) (finite ? i : 0));
            }
            WeightMatrix w = new WeightMatrix("every half", DType.F16, rows, cols, seg);
            float[] x = new float[tokens * cols], out = new float[tokens * rows];
            for (int c0 = 0; c0 < cols; c0 += tokens) {
                java.util.Arrays.fill(x, 0f);
                for (int j = 0; j < tokens && c0 + j < cols; j++) x[j * cols + c0 + j] = 1f;
                backend.matmul(w, x, out, tokens);
                for (int j = 0; j < tokens && c0 + j < cols; j++) {
                    int c = c0 + j;
                    for (int r = 0; r < rows && r * cols + c < 65536; r++) {
                        short bits = (short) (r * cols + c);
                        float expected = (bits & 0x7C00) == 0x7C00 ? 0f : Float.float16ToFloat(bits);
                        assertEquals(expected, out[j * rows + r], 0f, "half 0x" + Integer.toHexString(bits & 0xFFFF) + ", column " + c);
                    }
                }
            }
        }
    }

    /**
     * The Q8_0 tile for a few tokens widens in registers what the panel path widens into memory,
     * with the same products summed in the same order per lane, for every token count up to 15
     * (tiles of 8, 4 and 1 tokens). Only the horizontal sum may differ: the Vector API leaves its
     * order open (interpreted and compiled code differ), hence a tolerance of a few ulps.
     */
    @Test
    void q8_0TokenTile_matchesThePanelPath_forEveryTokenCount() {
        Assumptions.assumeTrue(Q8_0TokenTile.supported(), "the Q8_0 token tile needs 512-bit vectors");
        var random = new Random(5);
        int rows = 4, cols = 256;
        try (Arena arena = Arena.ofShared()) {
            WeightMatrix w = TestTensors.random(arena, DType.Q8_0, rows, cols, random);
            float[] panel = new float[rows * cols];
            for (int r = 0; r < rows; r++) Q8_0Rows.dequantizeVector(w.data(), r * w.rowBytes(), panel, r * cols, cols);
            for (int tokens = 1; tokens <= 15; tokens++) {
                float[] x = new float[tokens * cols];
                for (int i = 0; i < x.length; i++) x[i] = (float) random.nextGaussian();
                float[] expected = new float[tokens * rows], actual = new float[tokens * rows];
                TiledGemm.multiply(panel, cols, x, tokens, expected, rows, 0, w.data(), 0, 0);
                Q8_0TokenTile.multiply(w.data(), 0, w.rowBytes(), x, cols, tokens, actual, rows, 0);
                Q8_0TokenTile.multiply(w.data(), 2 * w.rowBytes(), w.rowBytes(), x, cols, tokens, actual, rows, 2);
                for (int i = 0; i < expected.length; i++) {
                    assertEquals(expected[i], actual[i], 1e-6f * (1 + Math.abs(expected[i])), tokens + " tokens, output " + i);
                }
            }
        }
    }

    /** Activations too large to prescale (|x| ≥ 2^15 would become infinite) take the exact dot. */
    @Test
    void matmul_f16WithHugeActivations_staysFinite() {
        var random = new Random(11);
        try (Arena arena = Arena.ofShared(); var backend = new VectorCpuBackend(2)) {
            WeightMatrix w = TestTensors.random(arena, DType.F16, 8, 64, random);
            float[] x = new float[64];
            for (int i = 0; i < x.length; i++) x[i] = (float) random.nextGaussian();
            x[5] = 1e6f;
            float[] expected = new float[8], actual = new float[8];
            new ReferenceBackend().matmul(w, x, expected, 1);
            backend.matmul(w, x, actual, 1);
            for (int r = 0; r < 8; r++) {
                assertEquals(expected[r], actual[r], 1e-5 * Math.abs(expected[r]) + 1e-3, "row " + r);
            }
        }
    }

    @Test
    void dotAndAxpy_matchScalar() {
        var random = new Random(7);
        float[] a = new float[77], b = new float[77], y = new float[77], yRef = new float[77];
        for (int i = 0; i < 77; i++) {
            a[i] = (float) random.nextGaussian();
            b[i] = (float) random.nextGaussian();
            y[i] = yRef[i] = (float) random.nextGaussian();
        }
        try (var backend = new VectorCpuBackend(1)) {
            var ref = new ReferenceBackend();
            assertEquals(ref.dot(a, 3, b, 1, 70), backend.dot(a, 3, b, 1, 70), 1e-4);
            ref.axpy(0.5f, a, 2, yRef, 4, 71);
            backend.axpy(0.5f, a, 2, y, 4, 71);
            for (int i = 0; i < 77; i++) assertEquals(yRef[i], y[i], 1e-6);
            float[] soft = a.clone(), softRef = a.clone();
            ref.softmax(softRef, 77);
            backend.softmax(soft, 77);
            for (int i = 0; i < 77; i++) assertEquals(softRef[i], soft[i], 1e-6 * Math.max(1e-3, softRef[i]) + 1e-9, "softmax " + i);
            float[] keys = new float[64 * 16];
            for (int i = 0; i < keys.length; i++) keys[i] = (float) random.nextGaussian();
            float[] sum = new float[20], sumRef = new float[20];
            ref.addWeightedRows(a, 3, keys, 7, 64, 9, sumRef, 2, 17);
            backend.addWeightedRows(a, 3, keys, 7, 64, 9, sum, 2, 17);
            for (int i = 0; i < 20; i++) assertEquals(sumRef[i], sum[i], 1e-5, "weighted rows " + i);
            float[] gate = a.clone(), gateRef = a.clone();
            ref.swiGlu(gateRef, b, 77);
            backend.swiGlu(gate, b, 77);
            for (int i = 0; i < 77; i++) assertEquals(gateRef[i], gate[i], 1e-6 * Math.max(1, Math.abs(gateRef[i])), "silu·up " + i);
        }
    }
}
