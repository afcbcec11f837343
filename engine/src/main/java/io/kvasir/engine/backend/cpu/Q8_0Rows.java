package io.kvasir.engine.backend.cpu;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

/**
 * ggml Q8_0 rows: blocks of 32 weights as one F16 scale d and 32 int8 q (34 bytes), w = d·q.
 * Each block's int8 lanes are widened to floats and dotted with x; the block sum is scaled once.
 */
final class Q8_0Rows {
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final int BLOCK = 32, BLOCK_BYTES = 34;

    private Q8_0Rows() {
    }

    /**
     * Two blocks per iteration into two accumulators (independent FMA chains), products summed
     * within a block before its one scale FMA: measured ~15% faster than one chain from memory.
     */
    static float dot(MemorySegment seg, long off, float[] x, int xOff, int n) {
        FloatVector acc0 = FloatVector.zero(Vectors.F), acc1 = acc0;
        int numBlocks = n / BLOCK, b = 0;
        for (; b + 1 < numBlocks; b += 2) {
            long blockOff = off + (long) b * BLOCK_BYTES;
            acc0 = blockSum(seg, blockOff, x, xOff + b * BLOCK).fma(scale(seg, blockOff), acc0);
            acc1 = blockSum(seg, blockOff + BLOCK_BYTES, x, xOff + (b + 1) * BLOCK).fma(scale(seg, blockOff + BLOCK_BYTES), acc1);
        }
        if (b < numBlocks) {
            long blockOff = off + (long) b * BLOCK_BYTES;
            acc0 = blockSum(seg, blockOff, x, xOff + b * BLOCK).fma(scale(seg, blockOff), acc0);
        }
        return acc0.add(acc1).reduceLanes(VectorOperators.ADD);
    }

    /**
     * {@link #dot} of 4 rows {@code rowBytes} apart into {@code out[outOff..+3]}, for 512-bit vectors
     * (two per block), each x vector loaded once for all 4. Why: at
     * k = 8192 (ffn_down) x is 32 KB, and a row-at-a-time dot re-reads it from L2 for every row
     * while the weight stream evicts it, so its misses crowd out the weights' (measured 14.4 GB/s
     * against 23 at k = 2048). One block per iteration: C2 stops intrinsifying the Vector API
     * calls of a bigger loop body (it fell back to boxed vectors at two blocks × 4 rows).
     */
    static void dot4(MemorySegment seg, long off, long rowBytes, float[] x, int n, float[] out, int outOff) {
        FloatVector a0 = FloatVector.zero(Vectors.F), a1 = a0, a2 = a0, a3 = a0;
        long o0 = off, o1 = o0 + rowBytes, o2 = o1 + rowBytes, o3 = o2 + rowBytes;
        int numBlocks = n / BLOCK;
        for (int b = 0; b < numBlocks; b++) {
            long e = (long) b * BLOCK_BYTES;
            int xe = b * BLOCK;
            FloatVector x0 = FloatVector.fromArray(Vectors.F, x, xe), x1 = FloatVector.fromArray(Vectors.F, x, xe + 16);
            a0 = blockSum(seg, o0 + e, x0, x1).fma(scale(seg, o0 + e), a0);
            a1 = blockSum(seg, o1 + e, x0, x1).fma(scale(seg, o1 + e), a1);
            a2 = blockSum(seg, o2 + e, x0, x1).fma(scale(seg, o2 + e), a2);
            a3 = blockSum(seg, o3 + e, x0, x1).fma(scale(seg, o3 + e), a3);
        }
        out[outOff] = a0.reduceLanes(VectorOperators.ADD);
        out[outOff + 1] = a1.reduceLanes(VectorOperators.ADD);
        out[outOff + 2] = a2.reduceLanes(VectorOperators.ADD);
        out[outOff + 3] = a3.reduceLanes(VectorOperators.ADD);
    }

    /** {@link #blockSum} for 512-bit vectors (two 16-lane halves of a block), x already loaded. */
    private static FloatVector blockSum(MemorySegment seg, long blockOff, FloatVector x0, FloatVector x1) {
        var sp = Vectors.F;
        ByteVector q = ByteVector.fromMemorySegment(Vectors.B, seg, blockOff + 2, ByteOrder.LITTLE_ENDIAN);
        FloatVector sum = ((FloatVector) q.convertShape(VectorOperators.B2F, sp, 0)).mul(x0);
        q = ByteVector.fromMemorySegment(Vectors.B, seg, blockOff + 18, ByteOrder.LITTLE_ENDIAN);
        return ((FloatVector) q.convertShape(VectorOperators.B2F, sp, 0)).fma(x1, sum);
    }

    /** Block {@code blockOff}'s scale d, broadcast. */
    static FloatVector scale(MemorySegment seg, long blockOff) {
        return FloatVector.broadcast(Vectors.F, Float.float16ToFloat(seg.get(I16, blockOff)));
    }

    /** Σ q·x over one block's 32 lanes, as a vector of partial sums (unscaled). */
    private static FloatVector blockSum(MemorySegment seg, long blockOff, float[] x, int xOff) {
        var sp = Vectors.F;
        ByteVector q = ByteVector.fromMemorySegment(Vectors.B, seg, blockOff + 2, ByteOrder.LITTLE_ENDIAN);
        FloatVector sum = ((FloatVector) q.convertShape(VectorOperators.B2F, sp, 0)).mul(FloatVector.fromArray(sp, x, xOff));
        for (int part = 1; part < Vectors.B_PARTS; part++) {
            sum = ((FloatVector) q.convertShape(VectorOperators.B2F, sp, part)).fma(FloatVector.fromArray(sp, x, xOff + part * sp.length()), sum);
        }
        for (int j = Vectors.B.length(); j < BLOCK; j += Vectors.B.length()) {
            q = ByteVector.fromMemorySegment(Vectors.B, seg, blockOff + 2 + j, ByteOrder.LITTLE_ENDIAN);
            for (int part = 0; part < Vectors.B_PARTS; part++) {
                sum = ((FloatVector) q.convertShape(VectorOperators.B2F, sp, part)).fma(FloatVector.fromArray(sp, x, xOff + j + part * sp.length()), sum);
            }
        }
        return sum;
    }

    static float dotScalar(MemorySegment seg, long off, float[] x, int xOff, int n) {
        float sum = 0;
        for (int b = 0; b < n / BLOCK; b++) {
            long blockOff = off + (long) b * BLOCK_BYTES;
            float d = Float.float16ToFloat(seg.get(I16, blockOff));
            float blockSum = 0;
            for (int j = 0; j < BLOCK; j++) {
                blockSum += seg.get(ValueLayout.JAVA_BYTE, blockOff + 2 + j) * x[xOff + b * BLOCK + j];
            }
            sum += d * blockSum;
        }
        return sum;
    }

    static void dequantizeVector(MemorySegment seg, long off, float[] out, int outOff, int n) {
        var sp = Vectors.F;
        var bsp = Vectors.B;
        int parts = Vectors.B_PARTS;
        for (int b = 0; b < n / BLOCK; b++) {
            long blockOff = off + (long) b * BLOCK_BYTES;
            FloatVector d = FloatVector.broadcast(sp, Float.float16ToFloat(seg.get(I16, blockOff)));
            for (int j = 0; j < BLOCK; j += bsp.length()) {
                ByteVector q = ByteVector.fromMemorySegment(bsp, seg, blockOff + 2 + j, ByteOrder.LITTLE_ENDIAN);
                for (int part = 0; part < parts; part++) {
                    ((FloatVector) q.convertShape(VectorOperators.B2F, sp, part)).mul(d)
                            .intoArray(out, outOff + b * BLOCK + j + part * sp.length());
                }
            }
        }
    }

    static void dequantize(MemorySegment seg, long off, float[] out, int outOff, int n) {
        for (int b = 0; b < n / BLOCK; b++) {
            long blockOff = off + (long) b * BLOCK_BYTES;
            float d = Float.float16ToFloat(seg.get(I16, blockOff));
            for (int j = 0; j < BLOCK; j++) {
                out[outOff + b * BLOCK + j] = d * seg.get(ValueLayout.JAVA_BYTE, blockOff + 2 + j);
            }
        }
    }
}
