package io.kvasir.engine.backend.cpu;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;

/**
 * IEEE half-precision rows. The vector path widens halves to floats with integer ops, exactly
 * (normals and subnormals; weights hold no infinities or NaNs), then FMAs in F32.
 */
final class F16Rows {
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private F16Rows() {
    }

    /** {@code sp.length()} halves at byte offset {@code off}, as floats. */
    static FloatVector load(MemorySegment seg, long off) {
        IntVector bits = (IntVector) ShortVector.fromMemorySegment(Vectors.S, seg, off, ByteOrder.LITTLE_ENDIAN)
                .convertShape(VectorOperators.S2I, Vectors.I, 0);
        IntVector magnitude = bits.and(0x7FFF);
        IntVector sign = bits.and(0x8000).lanewise(VectorOperators.LSHL, 16);
        // normal: re-bias the exponent (15 -> 127) and move the 10-bit mantissa to the top of 23 bits
        FloatVector normal = magnitude.lanewise(VectorOperators.LSHL, 13).add(112 << 23).reinterpretAsFloats();
        // subnormal (exponent 0): magnitude * 2^-24, exact in float
        FloatVector subnormal = ((FloatVector) magnitude.convert(VectorOperators.I2F, 0)).mul(0x1p-24f);
        VectorMask<Float> isSubnormal = magnitude.compare(VectorOperators.LT, 0x400).cast(Vectors.F);
        FloatVector abs = normal.blend(subnormal, isSubnormal);
        return abs.reinterpretAsInts().or(sign).reinterpretAsFloats();
    }

    static float dot(MemorySegment seg, long off, float[] x, int xOff, int n) {
        var sp = Vectors.F;
        FloatVector acc0 = FloatVector.zero(sp), acc1 = FloatVector.zero(sp);
        int step = sp.length(), i = 0;
        for (int upper = n - 2 * step; i <= upper; i += 2 * step) {
            acc0 = load(seg, off + 2L * i).fma(FloatVector.fromArray(sp, x, xOff + i), acc0);
            acc1 = load(seg, off + 2L * (i + step)).fma(FloatVector.fromArray(sp, x, xOff + i + step), acc1);
        }
        for (; i <= n - step; i += step) {
            acc0 = load(seg, off + 2L * i).fma(FloatVector.fromArray(sp, x, xOff + i), acc0);
        }
        float sum = acc0.add(acc1).reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) sum += Float.float16ToFloat(seg.get(I16, off + 2L * i)) * x[xOff + i];
        return sum;
    }

    /** Scales x by 2^112 so that a half's bits moved into a float's place need no re-biasing. */
    static final float PRESCALE = 0x1p112f;
    /** Largest |x| whose prescaled value stays finite. */
    static final float PRESCALE_LIMIT = 0x1p15f;

    /**
     * Σ w·x given also {@code xScaled = x·2^112}. A half's sign, exponent and mantissa shifted into a
     * float's places (bits 31, 27..23, 22..13) read as the half times 2^-112, exactly: 3 integer ops
     * per 16 halves instead of {@link #load}'s 11, the 2^112 moved into x once per matmul. The
     * products are the exact real w·x, so the sums round as the unscaled ones would.
     *
     * <p>A subnormal half would become a subnormal float, and an FMA on one costs a microcode assist
     * (measured 9x slower over rows where most vectors hold one), so a vector with any zero exponent
     * (subnormal or zero; 3.8% of the vectors of the seeded 1B model) takes the exact widening
     * against the unscaled x.
     */
    static float dotPrescaled(MemorySegment seg, long off, float[] x, float[] xScaled, int xOff, int n) {
        var sp = Vectors.F;
        FloatVector acc = FloatVector.zero(sp);
        int step = sp.length(), i = 0;
        for (int upper = n - step; i <= upper; i += step) {
            IntVector bits = (IntVector) ShortVector.fromMemorySegment(Vectors.S, seg, off + 2L * i, ByteOrder.LITTLE_ENDIAN)
                    .convertShape(VectorOperators.S2I, Vectors.I, 0);
            if (bits.and(0x7C00).compare(VectorOperators.EQ, 0).anyTrue()) {
                acc = load(seg, off + 2L * i).fma(FloatVector.fromArray(sp, x, xOff + i), acc);
            } else {
                FloatVector w = bits.lanewise(VectorOperators.LSHL, 13).and(0x8FFFE000).reinterpretAsFloats();
                acc = w.fma(FloatVector.fromArray(sp, xScaled, xOff + i), acc);
            }
        }
        float sum = acc.reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) sum += Float.float16ToFloat(seg.get(I16, off + 2L * i)) * x[xOff + i];
        return sum;
    }

    static float dotScalar(MemorySegment seg, long off, float[] x, int xOff, int n) {
        float sum = 0;
        for (int i = 0; i < n; i++) sum += Float.float16ToFloat(seg.get(I16, off + 2L * i)) * x[xOff + i];
        return sum;
    }

    static void dequantizeVector(MemorySegment seg, long off, float[] out, int outOff, int n) {
        int step = Vectors.F.length(), i = 0;
        for (; i <= n - step; i += step) {
            load(seg, off + 2L * i).intoArray(out, outOff + i);
        }
        for (; i < n; i++) out[outOff + i] = Float.float16ToFloat(seg.get(I16, off + 2L * i));
    }

    static void dequantize(MemorySegment seg, long off, float[] out, int outOff, int n) {
        for (int i = 0; i < n; i++) out[outOff + i] = Float.float16ToFloat(seg.get(I16, off + 2L * i));
    }
}
