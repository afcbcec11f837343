package io.kvasir.engine.tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * The values of ggml's 2- to 6-bit block formats, as {@code ggml-quants.c}'s {@code dequantize_row_*}
 * computes them (float arithmetic in the same order): the scalar definition every faster path is
 * checked against. Offsets are bytes into {@code seg}; a row is whole blocks.
 *
 * <ul>
 *   <li>Q4_0 {@code {d, qs[16]}}: w = d·(q − 8); elements 0..15 in the low nibbles, 16..31 in the high.</li>
 *   <li>Q4_1 {@code {d, m, qs[16]}}: w = d·q + m.</li>
 *   <li>Q5_0 {@code {d, qh[4], qs[16]}}: bit e of qh is element e's fifth bit; w = d·(q − 16).</li>
 *   <li>Q5_1 {@code {d, m, qh[4], qs[16]}}: w = d·q + m.</li>
 *   <li>Q4_K {@code {d, dmin, scales[12], qs[128]}}, 256 elements in 8 sub-blocks of 32, each with a
 *       6-bit scale and min: w = (d·sc)·q − dmin·m; qs byte l of chunk c holds elements 64c + l (low
 *       nibble) and 64c + 32 + l (high).</li>
 *   <li>Q5_K {@code {d, dmin, scales[12], qh[32], qs[128]}}: Q4_K plus a fifth bit, bit 2c (or 2c + 1)
 *       of qh[l].</li>
 *   <li>Q6_K {@code {ql[128], qh[64], scales[16] int8, d}}: w = (d·sc)·(q − 32) over 16 sub-blocks of 16.</li>
 *   <li>Q2_K and Q3_K: see {@link #q2k} and {@link #q3k}.</li>
 * </ul>
 */
public final class QuantizedBlocks {
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private QuantizedBlocks() {
    }

    /** Element {@code i} (0 ≤ i < block size) of the block at {@code block}. */
    public static float element(DType t, MemorySegment seg, long block, int i) {
        return switch (t) {
            case Q4_0 -> half(seg, block) * (nibble(seg, block + 2, i) - 8);
            case Q4_1 -> half(seg, block) * nibble(seg, block + 4, i) + half(seg, block + 2);
            case Q5_0 -> half(seg, block) * ((nibble(seg, block + 6, i) | fifthBit(seg, block + 2, i)) - 16);
            case Q5_1 -> half(seg, block) * (nibble(seg, block + 8, i) | fifthBit(seg, block + 4, i)) + half(seg, block + 2);
            case Q2_K -> q2k(seg, block, i);
            case Q3_K -> q3k(seg, block, i);
            case Q4_K, Q5_K -> kQuant45(t, seg, block, i);
            case Q6_K -> q6k(seg, block, i);
            default -> throw new IllegalArgumentException(t + " is not a 2- to 6-bit block format");
        };
    }

    /** Row {@code [off, off + n elements)} into {@code out[outOff..]}. */
    public static void dequantize(DType t, MemorySegment seg, long off, float[] out, int outOff, int n) {
        for (int b = 0; b < n / t.blockSize; b++) {
            dequantizeBlock(t, seg, off + (long) b * t.blockBytes, out, outOff + b * t.blockSize);
        }
    }

    /** One block into {@code out[outOff..+blockSize)}: the same values as {@link #element}, a block at a time. */
    public static void dequantizeBlock(DType t, MemorySegment seg, long block, float[] out, int outOff) {
        switch (t) {
            case Q4_0, Q4_1, Q5_0, Q5_1 -> legacy(t, seg, block, out, outOff);
            case Q4_K, Q5_K -> kQuant45Block(t == DType.Q5_K, seg, block, out, outOff);
            case Q2_K, Q3_K, Q6_K -> {
                for (int i = 0; i < 256; i++) {
                    out[outOff + i] = element(t, seg, block, i);
                }
            }
            default -> throw new IllegalArgumentException(t + " is not a 2- to 6-bit block format");
        }
    }

    /** A Q4_K block, or with {@code five} a Q5_K one: each chunk of 64's scales read once. */
    private static void kQuant45Block(boolean five, MemorySegment seg, long block, float[] out, int outOff) {
        float d = half(seg, block), dmin = half(seg, block + 2);
        long scales = block + 4, qh = block + 16, qs = block + (five ? 48 : 16);
        for (int c = 0; c < 4; c++) {
            float d1 = d * kScale(seg, scales, 2 * c), m1 = dmin * kMin(seg, scales, 2 * c);
            float d2 = d * kScale(seg, scales, 2 * c + 1), m2 = dmin * kMin(seg, scales, 2 * c + 1);
            for (int l = 0; l < 32; l++) {
                int q = u8(seg, qs + 32 * c + l);
                int h = five ? u8(seg, qh + l) : 0;
                out[outOff + 64 * c + l] = d1 * ((q & 0xF) + ((h >> (2 * c)) & 1) * 16) - m1;
                out[outOff + 64 * c + 32 + l] = d2 * ((q >> 4) + ((h >> (2 * c + 1)) & 1) * 16) - m2;
            }
        }
    }

    private static void legacy(DType t, MemorySegment seg, long block, float[] out, int outOff) {
        float d = half(seg, block);
        boolean withMin = t == DType.Q4_1 || t == DType.Q5_1;
        boolean five = t == DType.Q5_0 || t == DType.Q5_1;
        float m = withMin ? half(seg, block + 2) : 0;
        long qh = block + (withMin ? 4 : 2);
        long qs = qh + (five ? 4 : 0);
        int high = five ? seg.get(I32, qh) : 0;
        int offset = withMin ? 0 : five ? 16 : 8;
        for (int j = 0; j < 16; j++) {
            int q = u8(seg, qs + j);
            int q0 = (q & 0xF) | ((high >>> j) & 1) << 4;
            int q1 = (q >> 4) | ((high >>> (j + 16)) & 1) << 4;
            if (withMin) {
                out[outOff + j] = q0 * d + m;
                out[outOff + j + 16] = q1 * d + m;
            } else {
                out[outOff + j] = (q0 - offset) * d;
                out[outOff + j + 16] = (q1 - offset) * d;
            }
        }
    }

    private static float kQuant45(DType t, MemorySegment seg, long block, int i) {
        int c = i / 64, within = i % 64, l = within % 32, sub = 2 * c + within / 32;
        float d = half(seg, block), dmin = half(seg, block + 2);
        long qs = block + (t == DType.Q5_K ? 48 : 16);
        int q = u8(seg, qs + 32 * c + l);
        q = within < 32 ? q & 0xF : q >> 4;
        if (t == DType.Q5_K) {
            q += ((seg.get(ValueLayout.JAVA_BYTE, block + 16 + l) >> sub) & 1) * 16;
        }
        return d * kScale(seg, block + 4, sub) * q - dmin * kMin(seg, block + 4, sub);
    }

    /**
     * Q2_K {@code {scales[16], qs[64], d, dmin}}: element 128n + 32j + 16h + l is 2 bits (at 2j) of
     * qs[32n + 16h + l]; its sub-block's byte holds a 4-bit scale (low) and min (high):
     * w = (d·sc)·q − dmin·m.
     */
    private static float q2k(MemorySegment seg, long block, int i) {
        int n = i / 128, j = (i % 128) / 32, h = (i % 32) / 16, l = i % 16;
        int q = (u8(seg, block + 16 + 32 * n + 16 * h + l) >> (2 * j)) & 3;
        int s = u8(seg, block + 8 * n + 2 * j + h);
        return half(seg, block + 80) * (s & 0xF) * q - half(seg, block + 82) * (s >> 4);
    }

    /**
     * Q3_K {@code {hmask[32], qs[64], scales[12], d}}: as Q2_K's 2 bits, less 4 where the element's
     * bit (4n + j) of hmask[16h + l] is clear; 16 6-bit scales less 32: w = (d·sc)·q.
     */
    private static float q3k(MemorySegment seg, long block, int i) {
        int n = i / 128, j = (i % 128) / 32, h = (i % 32) / 16, l = i % 16, k = 8 * n + 2 * j + h;
        int q = (u8(seg, block + 32 + 32 * n + 16 * h + l) >> (2 * j)) & 3;
        if ((u8(seg, block + 16 * h + l) & (1 << (4 * n + j))) == 0) {
            q -= 4;
        }
        long scales = block + 96;
        int low = k < 8 ? u8(seg, scales + k) & 0xF : u8(seg, scales + k - 8) >> 4;
        int sc = (low | ((u8(seg, scales + 8 + k % 4) >> (2 * (k / 4))) & 3) << 4) - 32;
        return half(seg, block + 108) * sc * q;
    }

    private static float q6k(MemorySegment seg, long block, int i) {
        int n = i / 128, k = (i % 128) / 32, l = i % 32;
        int ql = u8(seg, block + 64 * n + 32 * (k % 2) + l);
        int qh = u8(seg, block + 128 + 32 * n + l);
        int q = (k < 2 ? ql & 0xF : ql >> 4) | ((qh >> (2 * k)) & 3) << 4;
        float d = half(seg, block + 208);
        return d * seg.get(ValueLayout.JAVA_BYTE, block + 192 + 8 * n + 2 * k + l / 16) * (q - 32);
    }

    /** Q4_K's and Q5_K's 6-bit scale of sub-block {@code j} from the 12 bytes at {@code scales} (ggml's get_scale_min_k4). */
    public static int kScale(MemorySegment seg, long scales, int j) {
        return j < 4 ? u8(seg, scales + j) & 63 : (u8(seg, scales + j + 4) & 0xF) | (u8(seg, scales + j - 4) >> 6) << 4;
    }

    /** Q4_K's and Q5_K's 6-bit min of sub-block {@code j} (ggml's get_scale_min_k4). */
    public static int kMin(MemorySegment seg, long scales, int j) {
        return j < 4 ? u8(seg, scales + j + 4) & 63 : (u8(seg, scales + j + 4) >> 4) | (u8(seg, scales + j) >> 6) << 4;
    }

    /** Element {@code i} of a 32-element block's 4 low bits: byte i % 16, low nibble below 16, high above. */
    private static int nibble(MemorySegment seg, long qs, int i) {
        int q = u8(seg, qs + i % 16);
        return i < 16 ? q & 0xF : q >> 4;
    }

    /** Element {@code i}'s fifth bit (bit i of the little-endian qh), as 0 or 16. */
    private static int fifthBit(MemorySegment seg, long qh, int i) {
        return ((seg.get(I32, qh) >>> i) & 1) << 4;
    }

    private static int u8(MemorySegment seg, long at) {
        return Byte.toUnsignedInt(seg.get(ValueLayout.JAVA_BYTE, at));
    }

    private static float half(MemorySegment seg, long at) {
        return Float.float16ToFloat(seg.get(I16, at));
    }
}
