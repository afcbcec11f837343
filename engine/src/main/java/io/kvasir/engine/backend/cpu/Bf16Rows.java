package io.kvasir.engine.backend.cpu;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;

/** bfloat16 rows: the top 16 bits of a float, widened by a shift. */
final class Bf16Rows {
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private Bf16Rows() {
    }

    static float dot(MemorySegment seg, long off, float[] x, int xOff, int n) {
        var sp = Vectors.F;
        FloatVector acc = FloatVector.zero(sp);
        int step = sp.length(), i = 0;
        for (; i <= n - step; i += step) {
            FloatVector w = ((IntVector) ShortVector.fromMemorySegment(Vectors.S, seg, off + 2L * i, ByteOrder.LITTLE_ENDIAN)
                    .convertShape(VectorOperators.S2I, Vectors.I, 0)).lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
            acc = w.fma(FloatVector.fromArray(sp, x, xOff + i), acc);
        }
        float sum = acc.reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) sum += Float.intBitsToFloat(seg.get(I16, off + 2L * i) << 16) * x[xOff + i];
        return sum;
    }

    static float dotScalar(MemorySegment seg, long off, float[] x, int xOff, int n) {
        float sum = 0;
        for (int i = 0; i < n; i++) sum += Float.intBitsToFloat(seg.get(I16, off + 2L * i) << 16) * x[xOff + i];
        return sum;
    }

    static void dequantizeVector(MemorySegment seg, long off, float[] out, int outOff, int n) {
        int step = Vectors.F.length(), i = 0;
        for (; i <= n - step; i += step) {
            ((IntVector) ShortVector.fromMemorySegment(Vectors.S, seg, off + 2L * i, ByteOrder.LITTLE_ENDIAN)
                    .convertShape(VectorOperators.S2I, Vectors.I, 0)).lanewise(VectorOperators.LSHL, 16)
                    .reinterpretAsFloats().intoArray(out, outOff + i);
        }
        for (; i < n; i++) out[outOff + i] = Float.intBitsToFloat(seg.get(I16, off + 2L * i) << 16);
    }

    static void dequantize(MemorySegment seg, long off, float[] out, int outOff, int n) {
        for (int i = 0; i < n; i++) out[outOff + i] = Float.intBitsToFloat(seg.get(I16, off + 2L * i) << 16);
    }
}
