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

    static float dot(MemorySegment seg, long off, float[] x, int xOff, int n) {
        var sp = Vectors.F;
        var bsp = Vectors.B;
        int parts = Vectors.B_PARTS;
        FloatVector acc = FloatVector.zero(sp);
        for (int b = 0; b < n / BLOCK; b++) {
            long blockOff = off + (long) b * BLOCK_BYTES;
            float d = Float.float16ToFloat(seg.get(I16, blockOff));
            FloatVector blockSum = FloatVector.zero(sp);
            for (int j = 0; j < BLOCK; j += bsp.length()) {
                ByteVector q = ByteVector.fromMemorySegment(bsp, seg, blockOff + 2 + j, ByteOrder.LITTLE_ENDIAN);
                for (int part = 0; part < parts; part++) {
                    FloatVector qf = (FloatVector) q.convertShape(VectorOperators.B2F, sp, part);
                    blockSum = qf.fma(FloatVector.fromArray(sp, x, xOff + b * BLOCK + j + part * sp.length()), blockSum);
                }
            }
            acc = blockSum.fma(FloatVector.broadcast(sp, d), acc);
        }
        return acc.reduceLanes(VectorOperators.ADD);
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
