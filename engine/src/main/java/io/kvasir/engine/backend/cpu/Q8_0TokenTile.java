package io.kvasir.engine.backend.cpu;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

/**
 * The Q8_0 matmul for a few tokens (decode batches, 2 to 15 tokens) on 512-bit vectors: 2 rows
 * at a time, each block's 32 weights widened to F32 in registers (two vectors, scaled by the
 * block's d) and used at once by up to 8 tokens. Each row is read from the mapped file once per
 * step and never stored widened.
 *
 * <p>Why not a widened panel ({@link TiledGemm}): there the widening phase (one core streaming the
 * file, then storing floats) and the tile phase (re-loading them) take turns, and the stores and
 * loads occupy the same ports as the FMAs. Measured on 1.1 GB of 8192 × 2048 matrices (from DRAM),
 * 8 tokens, 2 threads: 81 GFLOP/s with the panel, 115 here; at k = 8192, 88 against 125.
 *
 * <p>Register budget (32 zmm): 16 accumulators (2 rows × 8 tokens), 4 widened weight vectors,
 * 2 activation vectors, a scale. The products and their order per lane are those of the panel
 * path (lane j sums elements ≡ j mod 16, the block's first half before its second); only the final
 * horizontal sum's order is the Vector API's to choose.
 *
 * <p>The 2×8, 2×4 and 2×1 tiles are written out, not one loop over tokens: C2 keeps vectors in
 * registers only as locals, and a helper taking them as arguments (past its inlining budget) boxes
 * them (measured 5× slower).
 */
final class Q8_0TokenTile {
    private static final int BLOCK = 32, BLOCK_BYTES = 34, HALF = 16;

    private Q8_0TokenTile() {
    }

    /** This kernel assumes 16-float vectors (a block is two of them). */
    static boolean supported() {
        return Vectors.F.length() == HALF;
    }

    /**
     * {@code out[t][r..r+1] = Σ_k w[r..r+1][k]·x[t][k]} for every token.
     *
     * @param off byte offset of row {@code r}; row {@code r+1} follows {@code rowBytes} later
     */
    static void multiply(MemorySegment seg, long off, long rowBytes, float[] x, int k, int numTokens,
                         float[] out, int rows, int r) {
        int t = 0;
        for (; t + 8 <= numTokens; t += 8) {
            tile2x8(seg, off, rowBytes, x, k, t, out, rows, r);
        }
        for (; t + 4 <= numTokens; t += 4) {
            tile2x4(seg, off, rowBytes, x, k, t, out, rows, r);
        }
        for (; t < numTokens; t++) {
            tile2x1(seg, off, rowBytes, x, k, t, out, rows, r);
        }
    }

    private static void tile2x8(MemorySegment seg, long off, long rowBytes, float[] x, int k, int t, float[] out,
                                int rows, int r) {
        var sp = Vectors.F;
        FloatVector a0 = FloatVector.zero(sp), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
        FloatVector b0 = a0, b1 = a0, b2 = a0, b3 = a0, b4 = a0, b5 = a0, b6 = a0, b7 = a0;
        int numBlocks = k / BLOCK;
        for (int blk = 0; blk < numBlocks; blk++) {
            long e = off + (long) blk * BLOCK_BYTES, f = e + rowBytes;
            FloatVector d = Q8_0Rows.scale(seg, e);
            FloatVector u0 = widen(seg, e + 2).mul(d), u1 = widen(seg, e + 2 + HALF).mul(d);
            d = Q8_0Rows.scale(seg, f);
            FloatVector v0 = widen(seg, f + 2).mul(d), v1 = widen(seg, f + 2 + HALF).mul(d);
            int xe = t * k + blk * BLOCK;
            FloatVector p = FloatVector.fromArray(sp, x, xe), q = FloatVector.fromArray(sp, x, xe + HALF);
            a0 = u1.fma(q, u0.fma(p, a0)); b0 = v1.fma(q, v0.fma(p, b0));
            xe += k; p = FloatVector.fromArray(sp, x, xe); q = FloatVector.fromArray(sp, x, xe + HALF);
            a1 = u1.fma(q, u0.fma(p, a1)); b1 = v1.fma(q, v0.fma(p, b1));
            xe += k; p = FloatVector.fromArray(sp, x, xe); q = FloatVector.fromArray(sp, x, xe + HALF);
            a2 = u1.fma(q, u0.fma(p, a2)); b2 = v1.fma(q, v0.fma(p, b2));
            xe += k; p = FloatVector.fromArray(sp, x, xe); q = FloatVector.fromArray(sp, x, xe + HALF);
            a3 = u1.fma(q, u0.fma(p, a3)); b3 = v1.fma(q, v0.fma(p, b3));
            xe += k; p = FloatVector.fromArray(sp, x, xe); q = FloatVector.fromArray(sp, x, xe + HALF);
            a4 = u1.fma(q, u0.fma(p, a4)); b4 = v1.fma(q, v0.fma(p, b4));
            xe += k; p = FloatVector.fromArray(sp, x, xe); q = FloatVector.fromArray(sp, x, xe + HALF);
            a5 = u1.fma(q, u0.fma(p, a5)); b5 = v1.fma(q, v0.fma(p, b5));
            xe += k; p = FloatVector.fromArray(sp, x, xe); q = FloatVector.fromArray(sp, x, xe + HALF);
            a6 = u1.fma(q, u0.fma(p, a6)); b6 = v1.fma(q, v0.fma(p, b6));
            xe += k; p = FloatVector.fromArray(sp, x, xe); q = FloatVector.fromArray(sp, x, xe + HALF);
            a7 = u1.fma(q, u0.fma(p, a7)); b7 = v1.fma(q, v0.fma(p, b7));
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
    }

    private static void tile2x4(MemorySegment seg, long off, long rowBytes, float[] x, int k, int t, float[] out,
                                int rows, int r) {
        var sp = Vectors.F;
        FloatVector a0 = FloatVector.zero(sp), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
        int numBlocks = k / BLOCK;
        for (int blk = 0; blk < numBlocks; blk++) {
            long e = off + (long) blk * BLOCK_BYTES, f = e + rowBytes;
            FloatVector d = Q8_0Rows.scale(seg, e);
            FloatVector u0 = widen(seg, e + 2).mul(d), u1 = widen(seg, e + 2 + HALF).mul(d);
            d = Q8_0Rows.scale(seg, f);
            FloatVector v0 = widen(seg, f + 2).mul(d), v1 = widen(seg, f + 2 + HALF).mul(d);
            int xe = t * k + blk * BLOCK;
            FloatVector p = FloatVector.fromArray(sp, x, xe), q = FloatVector.fromArray(sp, x, xe + HALF);
            a0 = u1.fma(q, u0.fma(p, a0)); b0 = v1.fma(q, v0.fma(p, b0));
            xe += k; p = FloatVector.fromArray(sp, x, xe); q = FloatVector.fromArray(sp, x, xe + HALF);
            a1 = u1.fma(q, u0.fma(p, a1)); b1 = v1.fma(q, v0.fma(p, b1));
            xe += k; p = FloatVector.fromArray(sp, x, xe); q = FloatVector.fromArray(sp, x, xe + HALF);
            a2 = u1.fma(q, u0.fma(p, a2)); b2 = v1.fma(q, v0.fma(p, b2));
            xe += k; p = FloatVector.fromArray(sp, x, xe); q = FloatVector.fromArray(sp, x, xe + HALF);
            a3 = u1.fma(q, u0.fma(p, a3)); b3 = v1.fma(q, v0.fma(p, b3));
        }
        int o = t * rows + r;
        out[o] = a0.reduceLanes(VectorOperators.ADD); out[o + 1] = b0.reduceLanes(VectorOperators.ADD); o += rows;
        out[o] = a1.reduceLanes(VectorOperators.ADD); out[o + 1] = b1.reduceLanes(VectorOperators.ADD); o += rows;
        out[o] = a2.reduceLanes(VectorOperators.ADD); out[o + 1] = b2.reduceLanes(VectorOperators.ADD); o += rows;
        out[o] = a3.reduceLanes(VectorOperators.ADD); out[o + 1] = b3.reduceLanes(VectorOperators.ADD);
    }

    private static void tile2x1(MemorySegment seg, long off, long rowBytes, float[] x, int k, int t, float[] out,
                                int rows, int r) {
        var sp = Vectors.F;
        FloatVector a = FloatVector.zero(sp), b = a;
        int numBlocks = k / BLOCK;
        for (int blk = 0; blk < numBlocks; blk++) {
            long e = off + (long) blk * BLOCK_BYTES, f = e + rowBytes;
            int xe = t * k + blk * BLOCK;
            FloatVector p = FloatVector.fromArray(sp, x, xe), q = FloatVector.fromArray(sp, x, xe + HALF);
            FloatVector d = Q8_0Rows.scale(seg, e);
            a = widen(seg, e + 2 + HALF).mul(d).fma(q, widen(seg, e + 2).mul(d).fma(p, a));
            d = Q8_0Rows.scale(seg, f);
            b = widen(seg, f + 2 + HALF).mul(d).fma(q, widen(seg, f + 2).mul(d).fma(p, b));
        }
        int o = t * rows + r;
        out[o] = a.reduceLanes(VectorOperators.ADD); out[o + 1] = b.reduceLanes(VectorOperators.ADD);
    }

    /** 16 int8 quants as floats. */
    private static FloatVector widen(MemorySegment seg, long off) {
        return (FloatVector) ByteVector.fromMemorySegment(Vectors.B, seg, off, ByteOrder.LITTLE_ENDIAN)
                .convertShape(VectorOperators.B2F, Vectors.F, 0);
    }
}
