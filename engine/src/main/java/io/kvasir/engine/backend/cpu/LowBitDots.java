package io.kvasir.engine.backend.cpu;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;

/**
 * Row dots of the 4- and 6-bit formats most files use (Q4_0; Q4_K and Q6_K, the two of Q4_K_M),
 * widened in registers on 512-bit vectors: 16 quants per byte-vector load, their bit fields pulled
 * out with masks and shifts, widened to 16 floats and multiply-added with x. Scales stay scalar,
 * one per 16 to 32 weights. Other widths and formats take {@link LowBitRows}' path.
 */
final class LowBitDots {
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private LowBitDots() {
    }

    /** Whether these kernels run at this JVM's vector width (16 float lanes, 16-byte quant loads). */
    static boolean supported() {
        return Vectors.F.length() == 16 && Vectors.B.length() == 16;
    }

    /**
     * Q4_0 {@code {d, qs[16]}}: Σ d·(q − 8)·x per block. Each quant byte is widened to an int lane
     * once; a table lookup (one permute) turns the lane's low 4 bits straight into the float q − 8,
     * and the lane shifted right by 4 does the same for the high nibble. Against widening each nibble
     * to float and subtracting 8·Σx per block, that takes 10 instead of 14 of the two ports 512-bit
     * operations run on: 6.1 → 3.9 ns a block, measured on one core here.
     */
    static float q4_0(MemorySegment seg, long off, float[] x, int xOff, int n) {
        FloatVector acc = FloatVector.zero(Vectors.F);
        for (int b = 0; b < n / 32; b++) {
            long blk = off + 18L * b;
            int xe = xOff + 32 * b;
            IntVector q = widenToInts(ByteVector.fromMemorySegment(Vectors.B, seg, blk + 2, ByteOrder.LITTLE_ENDIAN));
            FloatVector qx = q4_0High(q).fma(FloatVector.fromArray(Vectors.F, x, xe + 16),
                    q4_0Low(q).mul(FloatVector.fromArray(Vectors.F, x, xe)));
            acc = qx.fma(FloatVector.broadcast(Vectors.F, Float.float16ToFloat(seg.get(I16, blk))), acc);
        }
        return acc.reduceLanes(VectorOperators.ADD);
    }

    /**
     * Q4_K {@code {d, dmin, scales[12], qs[128]}}: per sub-block j of 32, w = d·sc_j·q − dmin·m_j, so
     * Σ w·x = Σ_j d·sc_j·(Σ q·x) − dmin·Σ_j m_j·(Σ x over j). The vectors only sum q·x; the mins take
     * x's sub-block sums ({@code sums[sumsOff + i]}: Σ x over [32i, 32i + 32), see {@link #subBlockSums}),
     * computed once per matmul rather than once per row. The 12 scale bytes are read as three ints
     * and unpacked at once (ggml's masks), not byte by checked byte: with both, 15.5 → 8.5 ns per 32
     * weights, measured on one core here.
     */
    static float q4_k(MemorySegment seg, long off, float[] x, int xOff, float[] sums, int sumsOff, int n) {
        FloatVector acc = FloatVector.zero(Vectors.F);
        float mins = 0;
        for (int b = 0; b < n / 256; b++) {
            long blk = off + 144L * b;
            float d = Float.float16ToFloat(seg.get(I16, blk)), dmin = Float.float16ToFloat(seg.get(I16, blk + 2));
            long scales = kScales(seg, blk + 4), ms = kMins(seg, blk + 4);
            for (int c = 0; c < 4; c++) { // sub-blocks 2c (low nibbles) and 2c + 1 (high) share 32 bytes
                int s = sumsOff + 8 * b + 2 * c, xe = xOff + 256 * b + 64 * c, shift = 16 * c;
                mins += dmin * (((ms >>> shift) & 0xFF) * sums[s] + ((ms >>> (shift + 8)) & 0xFF) * sums[s + 1]);
                ByteVector q0 = ByteVector.fromMemorySegment(Vectors.B, seg, blk + 16 + 32 * c, ByteOrder.LITTLE_ENDIAN);
                ByteVector q1 = ByteVector.fromMemorySegment(Vectors.B, seg, blk + 32 + 32 * c, ByteOrder.LITTLE_ENDIAN);
                FloatVector lo = widen(q0.and((byte) 0x0F)).mul(FloatVector.fromArray(Vectors.F, x, xe));
                lo = widen(q1.and((byte) 0x0F)).fma(FloatVector.fromArray(Vectors.F, x, xe + 16), lo);
                FloatVector hi = widen(shr(q0, 4).and((byte) 0x0F)).mul(FloatVector.fromArray(Vectors.F, x, xe + 32));
                hi = widen(shr(q1, 4).and((byte) 0x0F)).fma(FloatVector.fromArray(Vectors.F, x, xe + 48), hi);
                acc = lo.fma(FloatVector.broadcast(Vectors.F, d * ((scales >>> shift) & 0xFF)), acc);
                acc = hi.fma(FloatVector.broadcast(Vectors.F, d * ((scales >>> (shift + 8)) & 0xFF)), acc);
            }
        }
        return acc.reduceLanes(VectorOperators.ADD) - mins;
    }

    /**
     * Q4_K's and Q5_K's eight 6-bit scales from the 12 bytes at {@code at}, byte j of the result
     * sub-block j's: read as three ints and unpacked with ggml's masks, not byte by checked byte.
     */
    static long kScales(MemorySegment seg, long at) {
        int u0 = seg.get(I32, at), u2 = seg.get(I32, at + 8);
        int low = u0 & 0x3f3f3f3f, high = (u2 & 0x0f0f0f0f) | ((u0 >>> 6) & 0x03030303) << 4;
        return (low & 0xFFFFFFFFL) | (long) high << 32;
    }

    /** The eight 6-bit mins, as {@link #kScales} gives the scales. */
    static long kMins(MemorySegment seg, long at) {
        int u1 = seg.get(I32, at + 4), u2 = seg.get(I32, at + 8);
        int low = u1 & 0x3f3f3f3f, high = ((u2 >>> 4) & 0x0f0f0f0f) | ((u1 >>> 6) & 0x03030303) << 4;
        return (low & 0xFFFFFFFFL) | (long) high << 32;
    }

    /** {@code sums[sumsOff + i]} = Σ x over [xOff + 32i, xOff + 32i + 32), for {@code n / 32} sub-blocks. */
    static void subBlockSums(float[] x, int xOff, int n, float[] sums, int sumsOff) {
        for (int i = 0; i < n / 32; i++) {
            int at = xOff + 32 * i;
            sums[sumsOff + i] = FloatVector.fromArray(Vectors.F, x, at).add(FloatVector.fromArray(Vectors.F, x, at + 16))
                    .reduceLanes(VectorOperators.ADD);
        }
    }

    /**
     * Q6_K {@code {ql[128], qh[64], scales[16] int8, d}}: per sub-block of 16, w = (d·sc)·(q − 32).
     * One loop body for the four 32-weight parts of each 128 (C2 leaves a body that big boxed when
     * it is written out four times).
     */
    static float q6_k(MemorySegment seg, long off, float[] x, int xOff, int n) {
        FloatVector acc = FloatVector.zero(Vectors.F);
        for (int b = 0; b < n / 256; b++) {
            long blk = off + 210L * b;
            float d = Float.float16ToFloat(seg.get(I16, blk + 208));
            for (int half = 0; half < 2; half++) {
                for (int h = 0; h < 2; h++) {
                    ByteVector hb = ByteVector.fromMemorySegment(Vectors.B, seg, blk + 128 + 32 * half + 16 * h, ByteOrder.LITTLE_ENDIAN);
                    for (int k = 0; k < 4; k++) {
                        float scale = d * q6Scale(seg, blk, half, h, k);
                        // (q − 32)·scale in one rounding, as the product below and the panels' sub-then-mul
                        FloatVector w = widen(q6Quants(seg, blk, half, h, k, hb)).fma(scale, -32 * scale);
                        acc = w.fma(FloatVector.fromArray(Vectors.F, x, xOff + 256 * b + 128 * half + 32 * k + 16 * h), acc);
                    }
                }
            }
        }
        return acc.reduceLanes(VectorOperators.ADD);
    }

    /** Q4_0 rows widened into {@code out} (prefill's weight panels), the same values as {@link #q4_0}'s. */
    static void q4_0Into(MemorySegment seg, long off, float[] out, int outOff, int n) {
        for (int b = 0; b < n / 32; b++) {
            long blk = off + 18L * b;
            float d = Float.float16ToFloat(seg.get(I16, blk));
            IntVector q = widenToInts(ByteVector.fromMemorySegment(Vectors.B, seg, blk + 2, ByteOrder.LITTLE_ENDIAN));
            q4_0Low(q).mul(d).intoArray(out, outOff + 32 * b);
            q4_0High(q).mul(d).intoArray(out, outOff + 32 * b + 16);
        }
    }

    /** Q4_K rows widened into {@code out}. */
    static void q4_kInto(MemorySegment seg, long off, float[] out, int outOff, int n) {
        for (int b = 0; b < n / 256; b++) {
            long blk = off + 144L * b;
            float d = Float.float16ToFloat(seg.get(I16, blk)), dmin = Float.float16ToFloat(seg.get(I16, blk + 2));
            long scales = kScales(seg, blk + 4), mins = kMins(seg, blk + 4);
            for (int c = 0; c < 4; c++) {
                int shift = 16 * c;
                float d1 = d * ((scales >>> shift) & 0xFF), m1 = dmin * ((mins >>> shift) & 0xFF);
                float d2 = d * ((scales >>> (shift + 8)) & 0xFF), m2 = dmin * ((mins >>> (shift + 8)) & 0xFF);
                for (int h = 0; h < 2; h++) {
                    ByteVector q = ByteVector.fromMemorySegment(Vectors.B, seg, blk + 16 + 32 * c + 16 * h, ByteOrder.LITTLE_ENDIAN);
                    int at = outOff + 256 * b + 64 * c + 16 * h;
                    widen(q.and((byte) 0x0F)).fma(d1, -m1).intoArray(out, at);
                    widen(shr(q, 4).and((byte) 0x0F)).fma(d2, -m2).intoArray(out, at + 32);
                }
            }
        }
    }

    /** Q6_K rows widened into {@code out}. */
    static void q6_kInto(MemorySegment seg, long off, float[] out, int outOff, int n) {
        for (int b = 0; b < n / 256; b++) {
            long blk = off + 210L * b;
            float d = Float.float16ToFloat(seg.get(I16, blk + 208));
            for (int half = 0; half < 2; half++) {
                for (int h = 0; h < 2; h++) {
                    ByteVector hb = ByteVector.fromMemorySegment(Vectors.B, seg, blk + 128 + 32 * half + 16 * h, ByteOrder.LITTLE_ENDIAN);
                    for (int k = 0; k < 4; k++) {
                        widen(q6Quants(seg, blk, half, h, k, hb)).sub(32f).mul(d * q6Scale(seg, blk, half, h, k)).intoArray(out, outOff + 256 * b + 128 * half + 32 * k + 16 * h);
                    }
                }
            }
        }
    }

    /**
     * 16 Q6_K quants (0..63): part {@code k} (0..3) of the 128 weights of {@code half}, lanes
     * {@code 16h..16h+15}; low 4 bits from ql (low nibbles for parts 0 and 1, high for 2 and 3;
     * parts 1 and 3 from the second 32 bytes), high 2 from {@code hb} at bit 2k.
     */
    private static ByteVector q6Quants(MemorySegment seg, long blk, int half, int h, int k, ByteVector hb) {
        ByteVector l = ByteVector.fromMemorySegment(Vectors.B, seg, blk + 64 * half + 32 * (k & 1) + 16 * h, ByteOrder.LITTLE_ENDIAN);
        return shr(l, 4 * (k >> 1)).and((byte) 0x0F).or(shl(shr(hb, 2 * k).and((byte) 3), 4));
    }

    /** The int8 scale of those 16 weights. */
    private static int q6Scale(MemorySegment seg, long blk, int half, int h, int k) {
        return seg.get(ValueLayout.JAVA_BYTE, blk + 192 + 8 * half + 2 * k + h);
    }

    /**
     * Each byte shifted right by {@code n}, its top bits garbage (the caller masks them off). x86 has
     * no byte shifts: C2 emulates them in several instructions, so the shift runs on 16-bit lanes
     * (one instruction); a byte's bits then come partly from its neighbour, above where the mask keeps.
     */
    private static ByteVector shr(ByteVector q, int n) {
        return n == 0 ? q : q.reinterpretAsShorts().lanewise(VectorOperators.LSHR, n).reinterpretAsBytes();
    }

    /** Each byte of {@code q} (every byte below 16) shifted left by {@code n}, on 16-bit lanes like {@link #shr}. */
    private static ByteVector shl(ByteVector q, int n) {
        return q.reinterpretAsShorts().lanewise(VectorOperators.LSHL, n).reinterpretAsBytes();
    }

    /** The float bits of q − 8 for each 4-bit q: a permute picks lanes by their index's low 4 bits alone. */
    private static final IntVector Q4_0_VALUES = IntVector.fromArray(Vectors.I,
            java.util.stream.IntStream.range(0, 16).map(q -> Float.floatToIntBits(q - 8)).toArray(), 0);

    /** 16 quant bytes as 16 int lanes, sign-extended (only the low bits are used). */
    private static IntVector widenToInts(ByteVector q) {
        return (IntVector) q.convertShape(VectorOperators.B2I, Vectors.I, 0);
    }

    /** The weights q − 8 of the bytes' low nibbles. */
    private static FloatVector q4_0Low(IntVector q) {
        return q.selectFrom(Q4_0_VALUES).reinterpretAsFloats();
    }

    /** The weights q − 8 of the bytes' high nibbles. */
    private static FloatVector q4_0High(IntVector q) {
        return q.lanewise(VectorOperators.ASHR, 4).selectFrom(Q4_0_VALUES).reinterpretAsFloats();
    }

    private static FloatVector widen(ByteVector q) {
        return (FloatVector) q.convertShape(VectorOperators.B2F, Vectors.F, 0);
    }
}
