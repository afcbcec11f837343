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
     * Σ w·x over the halves with a nonzero exponent, given also {@code xScaled = x·2^112}; the
     * caller adds the subnormal halves' products ({@link F16Subnormals}). A half's sign, exponent
     * and mantissa shifted into a float's places (bits 31, 27..23, 22..13) read as the half times
     * 2^-112, exactly: 3 integer ops per 16 halves instead of {@link #load}'s 11, the 2^112 moved
     * into x once per matmul. The products are the exact real w·x, so the sums round as the
     * unscaled ones would. Lanes with a zero exponent are zeroed, not widened: as floats they would
     * be subnormal, and an FMA on one costs a microcode assist (measured 9x slower).
     */
    static float dotPrescaled(MemorySegment seg, long off, float[] x, float[] xScaled, int xOff, int n) {
        var sp = Vectors.F;
        FloatVector acc = FloatVector.zero(sp);
        int step = sp.length(), i = 0;
        for (int upper = n - step; i <= upper; i += step) {
            acc = prescaled(seg, off + 2L * i).fma(FloatVector.fromArray(sp, xScaled, xOff + i), acc);
        }
        return acc.reduceLanes(VectorOperators.ADD) + normalTail(seg, off, x, xOff, i, n);
    }

    /**
     * {@link #dotPrescaled} of 4 rows {@code rowBytes} apart into {@code out[outOff..+3]}, each
     * xScaled vector loaded once for all 4 (see {@link Q8_0Rows#dot4}: at k = 8192 a row at a time
     * re-reads a 32 KB x from L2).
     */
    static void dotPrescaled4(MemorySegment seg, long off, long rowBytes, float[] x, float[] xScaled, int n,
                              float[] out, int outOff) {
        var sp = Vectors.F;
        FloatVector a0 = FloatVector.zero(sp), a1 = a0, a2 = a0, a3 = a0;
        long o0 = off, o1 = o0 + rowBytes, o2 = o1 + rowBytes, o3 = o2 + rowBytes;
        int step = sp.length(), i = 0;
        for (int upper = n - step; i <= upper; i += step) {
            FloatVector xs = FloatVector.fromArray(sp, xScaled, i);
            long e = 2L * i;
            a0 = prescaled(seg, o0 + e).fma(xs, a0);
            a1 = prescaled(seg, o1 + e).fma(xs, a1);
            a2 = prescaled(seg, o2 + e).fma(xs, a2);
            a3 = prescaled(seg, o3 + e).fma(xs, a3);
        }
        out[outOff] = a0.reduceLanes(VectorOperators.ADD) + normalTail(seg, o0, x, 0, i, n);
        out[outOff + 1] = a1.reduceLanes(VectorOperators.ADD) + normalTail(seg, o1, x, 0, i, n);
        out[outOff + 2] = a2.reduceLanes(VectorOperators.ADD) + normalTail(seg, o2, x, 0, i, n);
        out[outOff + 3] = a3.reduceLanes(VectorOperators.ADD) + normalTail(seg, o3, x, 0, i, n);
    }

    /** A vector of halves as floats of value half·2^-112, lanes with a zero exponent zeroed. */
    static FloatVector prescaled(MemorySegment seg, long off) {
        IntVector bits = (IntVector) ShortVector.fromMemorySegment(Vectors.S, seg, off, ByteOrder.LITTLE_ENDIAN)
                .convertShape(VectorOperators.S2I, Vectors.I, 0);
        VectorMask<Float> zeroExponent = bits.and(0x7C00).compare(VectorOperators.EQ, 0).cast(Vectors.F);
        return bits.lanewise(VectorOperators.LSHL, 13).and(0x8FFFE000).reinterpretAsFloats().blend(0f, zeroExponent);
    }

    /** Σ w·x over halves {@code [from, n)} of the row at {@code off} that have a nonzero exponent. */
    static float normalTail(MemorySegment seg, long off, float[] x, int xOff, int from, int n) {
        float sum = 0;
        for (int i = from; i < n; i++) {
            short half = seg.get(I16, off + 2L * i);
            if ((half & 0x7C00) != 0) sum += Float.float16ToFloat(half) * x[xOff + i];
        }
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
