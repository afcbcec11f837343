package io.kvasir.engine.backend.cpu;

import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

import io.kvasir.engine.tensor.DType;
import io.kvasir.engine.tensor.QuantizedBlocks;

/**
 * Rows of ggml's 4- to 6-bit formats (Q4_0 … Q6_K): each block is widened to floats by
 * {@link QuantizedBlocks} into a per-thread scratch, then dotted with x. The vector path runs the
 * dot's multiply-adds on vectors; the widening is scalar in both.
 */
final class LowBitRows {
    /** One block of the widest format (256 values), per worker thread. */
    private static final ThreadLocal<float[]> BLOCK = ThreadLocal.withInitial(() -> new float[256]);

    private LowBitRows() {
    }

    static float dot(DType t, MemorySegment seg, long off, float[] x, int xOff, int n) {
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

    static void dequantize(DType t, MemorySegment seg, long off, float[] out, int outOff, int n) {
        QuantizedBlocks.dequantize(t, seg, off, out, outOff, n);
    }
}
