package io.kvasir.engine.backend.cpu;

import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

import io.kvasir.engine.tensor.DType;
import io.kvasir.engine.tensor.QuantizedBlocks;

/**
 * Rows of ggml's 2- to 6-bit formats (Q4_0 … Q6_K, Q2_K, Q3_K). Q4_0, Q4_K and Q6_K dots on 512-bit vectors
 * widen in registers ({@link LowBitDots}); otherwise each block is widened to floats by
 * {@link QuantizedBlocks} into a per-thread scratch, then dotted with x (on vectors on the vector path).
 */
final class LowBitRows {
    /** One block of the widest format (256 values), per worker thread. */
    private static final ThreadLocal<float[]> BLOCK = ThreadLocal.withInitial(() -> new float[256]);
    /** x's sums per 32 for a lone Q4_K dot (a matmul computes them once for all its rows instead). */
    private static final ThreadLocal<float[]> SUMS = ThreadLocal.withInitial(() -> new float[0]);

    private LowBitRows() {
    }

    /** Whether {@link LowBitDots} widens {@code t} in registers at this JVM's vector width. */
    static boolean inRegisters(DType t) {
        return LowBitDots.supported() && (t == DType.Q4_0 || t == DType.Q4_K || t == DType.Q6_K);
    }

    static float dot(DType t, MemorySegment seg, long off, float[] x, int xOff, int n) {
        if (inRegisters(t)) {
            return switch (t) {
                case Q4_0 -> LowBitDots.q4_0(seg, off, x, xOff, n);
                case Q4_K -> {
                    float[] sums = SUMS.get();
                    if (sums.length < n / 32) {
                        SUMS.set(sums = new float[n / 32]);
                    }
                    LowBitDots.subBlockSums(x, xOff, n, sums, 0);
                    yield LowBitDots.q4_k(seg, off, x, xOff, sums, 0, n);
                }
                default -> LowBitDots.q6_k(seg, off, x, xOff, n);
            };
        }
        float[] block = BLOCK.get();
        var sp = Vectors.F;
        FloatVector acc0 = FloatVector.zero(sp), acc1 = acc0;
        for (int b = 0; b < n / t.blockSize; b++) {
            QuantizedBlocks.dequantizeBlock(t, seg, off + (long) b * t.blockBytes, block, 0);
            int xb = xOff + b * t.blockSize;
            for (int i = 0; i < t.blockSize; i += 2 * sp.length()) {
                acc0 = FloatVector.fromArray(sp, block, i).fma(FloatVector.fromArray(sp, x, xb + i), acc0);
                acc1 = FloatVector.fromArray(sp, block, i + sp.length())
                        .fma(FloatVector.fromArray(sp, x, xb + i + sp.length()), acc1);
            }
        }
        return acc0.add(acc1).reduceLanes(VectorOperators.ADD);
    }

    static float dotScalar(DType t, MemorySegment seg, long off, float[] x, int xOff, int n) {
        float[] block = BLOCK.get();
        float sum = 0;
        for (int b = 0; b < n / t.blockSize; b++) {
            QuantizedBlocks.dequantizeBlock(t, seg, off + (long) b * t.blockBytes, block, 0);
            for (int i = 0; i < t.blockSize; i++) {
                sum += block[i] * x[xOff + b * t.blockSize + i];
            }
        }
        return sum;
    }

    static void dequantize(DType t, MemorySegment seg, long off, float[] out, int outOff, int n, boolean vector) {
        if (!vector || !inRegisters(t)) {
            QuantizedBlocks.dequantize(t, seg, off, out, outOff, n);
            return;
        }
        switch (t) {
            case Q4_0 -> LowBitDots.q4_0Into(seg, off, out, outOff, n);
            case Q4_K -> LowBitDots.q4_kInto(seg, off, out, outOff, n);
            default -> LowBitDots.q6_kInto(seg, off, out, outOff, n);
        }
    }
}
