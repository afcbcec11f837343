package io.kvasir.engine.backend.cpu;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

import io.kvasir.engine.tensor.QuantizedBlocks;

/**
 * Row dots of the 4- and 6-bit formats most files use (Q4_0; Q4_K and Q6_K, the two of Q4_K_M),
 * widened in registers on 512-bit vectors: 16 quants per byte-vector load, their bit fields pulled
 * out with masks and shifts, widened to 16 floats and multiply-added with x. Scales stay scalar,
 * one per 16 to 32 weights. Other widths and formats take {@link LowBitRows}' path.
 */
final class LowBitDots {
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private LowBitDots() {
    }

    /** Whether these kernels run at this JVM's vector width (16 float lanes, 16-byte quant loads). */
    static boolean supported() {
        return Vectors.F.length() == 16 && Vectors.B.length() == 16;
    }

    /** Q4_0 {@code {d, qs[16]}}: Σ d·(q − 8)·x = d·(Σ q·x − 8·Σ x) per block. */
    static float q4_0(MemorySegment seg, long off, float[] x, int xOff, int n) {
        FloatVector acc = FloatVector.zero(Vectors.F), xs = acc;
        for (int b = 0; b < n / 32; b++) {
            long blk = off + 18L * b;
            int xe = xOff + 32 * b;
            ByteVector q = ByteVector.fromMemorySegment(Vectors.B, seg, blk + 2, ByteOrder.LITTLE_ENDIAN);
            FloatVector x0 = FloatVector.fromArray(Vectors.F, x, xe), x1 = FloatVector.fromArray(Vectors.F, x, xe + 16);
            FloatVector qx = widen(q.and((byte) 0x0F)).mul(x0);
            qx = widen(q.lanewise(VectorOperators.ASHR, 4).and((byte) 0x0F)).fma(x1, qx);
            float d = Float.float16ToFloat(seg.get(I16, blk));
            acc = qx.fma(FloatVector.broadcast(Vectors.F, d), acc);
            xs = x0.add(x1).fma(FloatVector.broadcast(Vectors.F, -8 * d), xs);
        }
        return acc.add(xs).reduceLanes(VectorOperators.ADD);
    }

    /** Q4_K {@code {d, dmin, scales[12], qs[128]}}: per sub-block of 32, w = (d·sc)·q − dmin·m. */
    static float q4_k(MemorySegment seg, long off, float[] x, int xOff, int n) {
        FloatVector acc0 = FloatVector.zero(Vectors.F), acc1 = acc0;
        for (int b = 0; b < n / 256; b++) {
            long blk = off + 144L * b;
            float d = Float.float16ToFloat(seg.get(I16, blk)), dmin = Float.float16ToFloat(seg.get(I16, blk + 2));
            for (int c = 0; c < 4; c++) {
                float d1 = d * QuantizedBlocks.kScale(seg, blk + 4, 2 * c), m1 = dmin * QuantizedBlocks.kMin(seg, blk + 4, 2 * c);
                float d2 = d * QuantizedBlocks.kScale(seg, blk + 4, 2 * c + 1);
                float m2 = dmin * QuantizedBlocks.kMin(seg, blk + 4, 2 * c + 1);
                for (int h = 0; h < 2; h++) {
                    ByteVector q = ByteVector.fromMemorySegment(Vectors.B, seg, blk + 16 + 32 * c + 16 * h, ByteOrder.LITTLE_ENDIAN);
                    int xe = xOff + 256 * b + 64 * c + 16 * h;
                    FloatVector lo = widen(q.and((byte) 0x0F)).fma(d1, -m1);
                    FloatVector hi = widen(q.lanewise(VectorOperators.ASHR, 4).and((byte) 0x0F)).fma(d2, -m2);
                    acc0 = lo.fma(FloatVector.fromArray(Vectors.F, x, xe), acc0);
                    acc1 = hi.fma(FloatVector.fromArray(Vectors.F, x, xe + 32), acc1);
                }
            }
        }
        return acc0.add(acc1).reduceLanes(VectorOperators.ADD);
    }

    /** Q6_K {@code {ql[128], qh[64], scales[16] int8, d}}: per sub-block of 16, w = (d·sc)·(q − 32). */
    static float q6_k(MemorySegment seg, long off, float[] x, int xOff, int n) {
        FloatVector acc0 = FloatVector.zero(Vectors.F), acc1 = acc0;
        for (int b = 0; b < n / 256; b++) {
            long blk = off + 210L * b;
            float d = Float.float16ToFloat(seg.get(I16, blk + 208));
            for (int half = 0; half < 2; half++) {
                long ql = blk + 64 * half, qh = blk + 128 + 32 * half, sc = blk + 192 + 8 * half;
                for (int h = 0; h < 2; h++) {
                    ByteVector l0 = ByteVector.fromMemorySegment(Vectors.B, seg, ql + 16 * h, ByteOrder.LITTLE_ENDIAN);
                    ByteVector l1 = ByteVector.fromMemorySegment(Vectors.B, seg, ql + 32 + 16 * h, ByteOrder.LITTLE_ENDIAN);
                    ByteVector hb = ByteVector.fromMemorySegment(Vectors.B, seg, qh + 16 * h, ByteOrder.LITTLE_ENDIAN);
                    int xe = xOff + 256 * b + 128 * half + 16 * h;
                    acc0 = part(l0.and((byte) 0x0F), hb, 0, d * seg.get(ValueLayout.JAVA_BYTE, sc + h), x, xe, acc0);
                    acc1 = part(l1.and((byte) 0x0F), hb, 2, d * seg.get(ValueLayout.JAVA_BYTE, sc + 2 + h), x, xe + 32, acc1);
                    acc0 = part(l0.lanewise(VectorOperators.ASHR, 4).and((byte) 0x0F), hb, 4,
                            d * seg.get(ValueLayout.JAVA_BYTE, sc + 4 + h), x, xe + 64, acc0);
                    acc1 = part(l1.lanewise(VectorOperators.ASHR, 4).and((byte) 0x0F), hb, 6,
                            d * seg.get(ValueLayout.JAVA_BYTE, sc + 6 + h), x, xe + 96, acc1);
                }
            }
        }
        return acc0.add(acc1).reduceLanes(VectorOperators.ADD);
    }

    /** Q4_0 rows widened into {@code out} (prefill's weight panels), the same values as {@link #q4_0}'s. */
    static void q4_0Into(MemorySegment seg, long off, float[] out, int outOff, int n) {
        for (int b = 0; b < n / 32; b++) {
            long blk = off + 18L * b;
            float d = Float.float16ToFloat(seg.get(I16, blk));
            ByteVector q = ByteVector.fromMemorySegment(Vectors.B, seg, blk + 2, ByteOrder.LITTLE_ENDIAN);
            widen(q.and((byte) 0x0F)).sub(8f).mul(d).intoArray(out, outOff + 32 * b);
            widen(q.lanewise(VectorOperators.ASHR, 4).and((byte) 0x0F)).sub(8f).mul(d).intoArray(out, outOff + 32 * b + 16);
        }
    }

    /** Q4_K rows widened into {@code out}. */
    static void q4_kInto(MemorySegment seg, long off, float[] out, int outOff, int n) {
        for (int b = 0; b < n / 256; b++) {
            long blk = off + 144L * b;
            float d = Float.float16ToFloat(seg.get(I16, blk)), dmin = Float.float16ToFloat(seg.get(I16, blk + 2));
            for (int c = 0; c < 4; c++) {
                float d1 = d * QuantizedBlocks.kScale(seg, blk + 4, 2 * c), m1 = dmin * QuantizedBlocks.kMin(seg, blk + 4, 2 * c);
                float d2 = d * QuantizedBlocks.kScale(seg, blk + 4, 2 * c + 1);
                float m2 = dmin * QuantizedBlocks.kMin(seg, blk + 4, 2 * c + 1);
                for (int h = 0; h < 2; h++) {
                    ByteVector q = ByteVector.fromMemorySegment(Vectors.B, seg, blk + 16 + 32 * c + 16 * h, ByteOrder.LITTLE_ENDIAN);
                    int at = outOff + 256 * b + 64 * c + 16 * h;
                    widen(q.and((byte) 0x0F)).fma(d1, -m1).intoArray(out, at);
                    widen(q.lanewise(VectorOperators.ASHR, 4).and((byte) 0x0F)).fma(d2, -m2).intoArray(out, at + 32);
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
                long ql = blk + 64 * half, qh = blk + 128 + 32 * half, sc = blk + 192 + 8 * half;
                for (int h = 0; h < 2; h++) {
                    ByteVector l0 = ByteVector.fromMemorySegment(Vectors.B, seg, ql + 16 * h, ByteOrder.LITTLE_ENDIAN);
                    ByteVector l1 = ByteVector.fromMemorySegment(Vectors.B, seg, ql + 32 + 16 * h, ByteOrder.LITTLE_ENDIAN);
                    ByteVector hb = ByteVector.fromMemorySegment(Vectors.B, seg, qh + 16 * h, ByteOrder.LITTLE_ENDIAN);
                    int at = outOff + 256 * b + 128 * half + 16 * h;
                    weights(l0.and((byte) 0x0F), hb, 0, d * seg.get(ValueLayout.JAVA_BYTE, sc + h)).intoArray(out, at);
                    weights(l1.and((byte) 0x0F), hb, 2, d * seg.get(ValueLayout.JAVA_BYTE, sc + 2 + h)).intoArray(out, at + 32);
                    weights(l0.lanewise(VectorOperators.ASHR, 4).and((byte) 0x0F), hb, 4,
                            d * seg.get(ValueLayout.JAVA_BYTE, sc + 4 + h)).intoArray(out, at + 64);
                    weights(l1.lanewise(VectorOperators.ASHR, 4).and((byte) 0x0F), hb, 6,
                            d * seg.get(ValueLayout.JAVA_BYTE, sc + 6 + h)).intoArray(out, at + 96);
                }
            }
        }
    }

    /** 16 Q6_K weights: low nibbles {@code low}, two high bits from {@code hb} at {@code shift}, times {@code scale}. */
    private static FloatVector part(ByteVector low, ByteVector hb, int shift, float scale, float[] x, int xe,
            FloatVector acc) {
        return weights(low, hb, shift, scale).fma(FloatVector.fromArray(Vectors.F, x, xe), acc);
    }

    /** 16 Q6_K weights as floats: (d·sc)·(q − 32). */
    private static FloatVector weights(ByteVector low, ByteVector hb, int shift, float scale) {
        ByteVector q = low.or(hb.lanewise(VectorOperators.ASHR, shift).and((byte) 3).lanewise(VectorOperators.LSHL, 4));
        return widen(q).sub(32f).mul(scale);
    }

    private static FloatVector widen(ByteVector q) {
        return (FloatVector) q.convertShape(VectorOperators.B2F, Vectors.F, 0);
    }
}
