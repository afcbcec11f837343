package io.kvasir.engine.backend.cpu;

import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

/**
 * The F16 matmul for a few tokens (decode batches, 2 to 15 tokens) on 512-bit vectors, the
 * counterpart of {@link Q8_0TokenTile}: 2 rows at a time, each vector of 16 halves widened in
 * registers the prescaled way ({@link F16Rows#dotPrescaled}: 3 integer ops and a blend, x scaled
 * by 2^112 once per matmul) and used at once by up to 8 tokens. The caller adds the subnormal
 * halves back ({@link F16Subnormals}).
 *
 * <p>Why: the widened-panel path ({@link TiledGemm}) widens exactly (11 ops per vector), stores
 * the floats and loads them again for every 4 tokens. The tiles are written out for the reason
 * {@link Q8_0TokenTile} gives.
 */
final class F16TokenTile {
    private static final int LANES = 16;

    private F16TokenTile() {
    }

    /** This kernel assumes 16-float vectors (its 2 × 8 tile needs AVX-512's 32 registers). */
    static boolean supported() {
        return Vectors.F.length() == LANES;
    }

    /**
     * {@code out[t][r..r+1] = Σ_k w[r..r+1][k]·x[t][k]} over the halves with a nonzero exponent.
     *
     * @param xScaled x·2^112 ({@link F16Rows#PRESCALE})
     * @param off     byte offset of row {@code r}; row {@code r+1} follows {@code rowBytes} later
     */
    static void multiply(MemorySegment seg, long off, long rowBytes, float[] x, float[] xScaled, int k, int numTokens,
                         float[] out, int rows, int r) {
        int t = 0;
        for (; t + 8 <= numTokens; t += 8) {
            tile2x8(seg, off, rowBytes, x, xScaled, k, t, out, rows, r);
        }
        for (; t + 4 <= numTokens; t += 4) {
            tile2x4(seg, off, rowBytes, x, xScaled, k, t, out, rows, r);
        }
        for (; t < numTokens; t++) {
            tile2x1(seg, off, rowBytes, x, xScaled, k, t, out, rows, r);
        }
    }

    private static void tile2x8(MemorySegment seg, long off, long rowBytes, float[] x, float[] xs, int k, int t,
                                float[] out, int rows, int r) {
        var sp = Vectors.F;
        FloatVector a0 = FloatVector.zero(sp), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
        FloatVector b0 = a0, b1 = a0, b2 = a0, b3 = a0, b4 = a0, b5 = a0, b6 = a0, b7 = a0;
        long g = off + rowBytes;
        int i = 0;
        for (; i <= k - LANES; i += LANES) {
            FloatVector u = F16Rows.prescaled(seg, off + 2L * i), v = F16Rows.prescaled(seg, g + 2L * i);
            int xe = t * k + i;
            FloatVector p = FloatVector.fromArray(sp, xs, xe);
            a0 = u.fma(p, a0); b0 = v.fma(p, b0);
            p = FloatVector.fromArray(sp, xs, xe += k); a1 = u.fma(p, a1); b1 = v.fma(p, b1);
            p = FloatVector.fromArray(sp, xs, xe += k); a2 = u.fma(p, a2); b2 = v.fma(p, b2);
            p = FloatVector.fromArray(sp, xs, xe += k); a3 = u.fma(p, a3); b3 = v.fma(p, b3);
            p = FloatVector.fromArray(sp, xs, xe += k); a4 = u.fma(p, a4); b4 = v.fma(p, b4);
            p = FloatVector.fromArray(sp, xs, xe += k); a5 = u.fma(p, a5); b5 = v.fma(p, b5);
            p = FloatVector.fromArray(sp, xs, xe += k); a6 = u.fma(p, a6); b6 = v.fma(p, b6);
            p = FloatVector.fromArray(sp, xs, xe += k); a7 = u.fma(p, a7); b7 = v.fma(p, b7);
        }
        int o = t * rows + r;
        out[o] = a0.reduceLanes(VectorOperators.ADD); out[o + 1] = b0.reduceLanes(VectorOperators.ADD); o += rows;
        out[o] = a1.reduceLanes(VectorOperators.ADD); out[o + 1] = b1.reduceLanes(VectorOperators.ADD); o += rows;
        out[o] = a2.reduceLanes(VectorOperators.ADD); out[o + 1] = b2.reduceLanes(VectorOperators.ADD); o += rows;
        out[o] = a3.reduceLanes(VectorOperators.ADD); out[o + 1] = b3.reduceLanes(VectorOperators.ADD); o += rows;
        out[o] = a4.reduceLanes(VectorOperators.ADD); out[o + 1] = b4.reduceLanes(VectorOperators.ADD); o += rows;
        out[o] = a5.reduceLanes(VectorOperators.ADD); out[o + 1] = b5.reduceLanes(VectorOperators.ADD); o += rows;
        out[o] = a6.reduceLanes(VectorOperators.ADD); out[o + 1] = b6.reduceLanes(VectorOperators.ADD); o += rows;
        out[o] = a7.reduceLanes(VectorOperators.ADD); out[o + 1] = b7.reduceLanes(VectorOperators.ADD);
        addTails(seg, off, rowBytes, x, k, t, 8, out, rows, r, i);
    }

    private static void tile2x4(MemorySegment seg, long off, long rowBytes, float[] x, float[] xs, int k, int t,
                                float[] out, int rows, int r) {
        var sp = Vectors.F;
        FloatVector a0 = FloatVector.zero(sp), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
        long g = off + rowBytes;
        int i = 0;
        for (; i <= k - LANES; i += LANES) {
            FloatVector u = F16Rows.prescaled(seg, off + 2L * i), v = F16Rows.prescaled(seg, g + 2L * i);
            int xe = t * k + i;
            FloatVector p = FloatVector.fromArray(sp, xs, xe);
            a0 = u.fma(p, a0); b0 = v.fma(p, b0);
            p = FloatVector.fromArray(sp, xs, xe += k); a1 = u.fma(p, a1); b1 = v.fma(p, b1);
            p = FloatVector.fromArray(sp, xs, xe += k); a2 = u.fma(p, a2); b2 = v.fma(p, b2);
            p = FloatVector.fromArray(sp, xs, xe += k); a3 = u.fma(p, a3); b3 = v.fma(p, b3);
        }
        int o = t * rows + r;
        out[o] = a0.reduceLanes(VectorOperators.ADD); out[o + 1] = b0.reduceLanes(VectorOperators.ADD); o += rows;
        out[o] = a1.reduceLanes(VectorOperators.ADD); out[o + 1] = b1.reduceLanes(VectorOperators.ADD); o += rows;
        out[o] = a2.reduceLanes(VectorOperators.ADD); out[o + 1] = b2.reduceLanes(VectorOperators.ADD); o += rows;
        out[o] = a3.reduceLanes(VectorOperators.ADD); out[o + 1] = b3.reduceLanes(VectorOperators.ADD);
        addTails(seg, off, rowBytes, x, k, t, 4, out, rows, r, i);
    }

    private static void tile2x1(MemorySegment seg, long off, long rowBytes, float[] x, float[] xs, int k, int t,
                                float[] out, int rows, int r) {
        var sp = Vectors.F;
        FloatVector a = FloatVector.zero(sp), b = a;
        long g = off + rowBytes;
        int i = 0;
        for (; i <= k - LANES; i += LANES) {
            FloatVector p = FloatVector.fromArray(sp, xs, t * k + i);
            a = F16Rows.prescaled(seg, off + 2L * i).fma(p, a);
            b = F16Rows.prescaled(seg, g + 2L * i).fma(p, b);
        }
        int o = t * rows + r;
        out[o] = a.reduceLanes(VectorOperators.ADD);
        out[o + 1] = b.reduceLanes(VectorOperators.ADD);
        addTails(seg, off, rowBytes, x, k, t, 1, out, rows, r, i);
    }

    /** Columns {@code [from, k)} that no whole vector covers, for both rows and tokens {@code t ..}. */
    private static void addTails(MemorySegment seg, long off, long rowBytes, float[] x, int k, int t, int numTokens,
                                 float[] out, int rows, int r, int from) {
        if (from == k) {
            return;
        }
        for (int j = t; j < t + numTokens; j++) {
            out[j * rows + r] += F16Rows.normalTail(seg, off, x, j * k, from, k);
            out[j * rows + r + 1] += F16Rows.normalTail(seg, off + rowBytes, x, j * k, from, k);
        }
    }
}
