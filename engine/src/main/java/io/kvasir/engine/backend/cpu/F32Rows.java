package io.kvasir.engine.backend.cpu;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

/** F32 rows: plain little-endian floats. */
final class F32Rows {
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private F32Rows() {
    }

    static float dot(MemorySegment seg, long off, float[] x, int xOff, int n) {
        var sp = Vectors.F;
        FloatVector acc0 = FloatVector.zero(sp), acc1 = FloatVector.zero(sp);
        int step = sp.length(), i = 0;
        for (int upper = n - 2 * step; i <= upper; i += 2 * step) {
            acc0 = FloatVector.fromMemorySegment(sp, seg, off + 4L * i, ByteOrder.LITTLE_ENDIAN)
                    .fma(FloatVector.fromArray(sp, x, xOff + i), acc0);
            acc1 = FloatVector.fromMemorySegment(sp, seg, off + 4L * (i + step), ByteOrder.LITTLE_ENDIAN)
                    .fma(FloatVector.fromArray(sp, x, xOff + i + step), acc1);
        }
        for (; i <= n - step; i += step) {
            acc0 = FloatVector.fromMemorySegment(sp, seg, off + 4L * i, ByteOrder.LITTLE_ENDIAN)
                    .fma(FloatVector.fromArray(sp, x, xOff + i), acc0);
        }
        float sum = acc0.add(acc1).reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) sum += seg.get(F32, off + 4L * i) * x[xOff + i];
        return sum;
    }

    static float dotScalar(MemorySegment seg, long off, float[] x, int xOff, int n) {
        float sum = 0;
        for (int i = 0; i < n; i++) sum += seg.get(F32, off + 4L * i) * x[xOff + i];
        return sum;
    }

    static void dequantize(MemorySegment seg, long off, float[] out, int outOff, int n) {
        MemorySegment.copy(seg, F32, off, out, outOff, n);
    }
}
