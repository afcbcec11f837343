package io.kvasir.engine.testing;

import io.kvasir.engine.tensor.DType;
import io.kvasir.engine.tensor.WeightMatrix;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Random;

/** Random weight matrices in any dtype, encoded as the file formats store them. */
public final class TestTensors {
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private TestTensors() {
    }

    public static WeightMatrix random(Arena arena, DType dtype, int rows, int cols, Random random) {
        float[] values = new float[rows * cols];
        for (int i = 0; i < values.length; i++) {
            values[i] = (float) random.nextGaussian() * 0.5f;
        }
        MemorySegment seg = arena.allocate(rows * dtype.bytesFor(cols));
        encode(values, dtype, cols, seg);
        return new WeightMatrix("test", dtype, rows, cols, seg);
    }

    /**
     * Random blocks of one of ggml's 4- to 6-bit formats: any bytes are a valid block, except that
     * the F16 scales (and minima) are set to small finite values.
     */
    public static WeightMatrix randomBlocks(Arena arena, DType dtype, int rows, int cols, Random random) {
        MemorySegment seg = arena.allocate(rows * dtype.bytesFor(cols));
        byte[] bytes = new byte[(int) seg.byteSize()];
        random.nextBytes(bytes);
        MemorySegment.copy(bytes, 0, seg, ValueLayout.JAVA_BYTE, 0, bytes.length);
        int[] halves = switch (dtype) {
            case Q4_0, Q5_0 -> new int[] {0};
            case Q4_1, Q5_1, Q4_K, Q5_K -> new int[] {0, 2};
            case Q6_K -> new int[] {208};
            case Q2_K -> new int[] {80, 82};
            case Q3_K -> new int[] {108};
            default -> throw new IllegalArgumentException(dtype + " is not a 4- to 6-bit format");
        };
        for (long block = 0; block < seg.byteSize(); block += dtype.blockBytes) {
            for (int at : halves) {
                seg.set(I16, block + at, Float.floatToFloat16(0.002f + 0.02f * random.nextFloat()));
            }
        }
        return new WeightMatrix("test", dtype, rows, cols, seg);
    }

    /** Writes row-major {@code values} (rows of {@code cols}) into {@code seg} in {@code dtype}. */
    public static void encode(float[] values, DType dtype, int cols, MemorySegment seg) {
        switch (dtype) {
            case F32 -> {
                for (int i = 0; i < values.length; i++) seg.set(F32, 4L * i, values[i]);
            }
            case F16 -> {
                for (int i = 0; i < values.length; i++) seg.set(I16, 2L * i, Float.floatToFloat16(values[i]));
            }
            case BF16 -> {
                for (int i = 0; i < values.length; i++) seg.set(I16, 2L * i, toBf16(values[i]));
            }
            case Q8_0 -> {
                // ggml quantize_row_q8_0_ref: d = amax/127, q = round(x/d), d stored as F16
                for (int b = 0; b < values.length / 32; b++) {
                    float amax = 0;
                    for (int j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(values[b * 32 + j]));
                    float d = amax / 127f, id = d != 0 ? 1f / d : 0f;
                    long off = 34L * b;
                    seg.set(I16, off, Float.floatToFloat16(d));
                    for (int j = 0; j < 32; j++) {
                        seg.set(ValueLayout.JAVA_BYTE, off + 2 + j, (byte) Math.round(values[b * 32 + j] * id));
                    }
                }
            }
        }
    }

    /** Round-to-nearest-even float → bfloat16, as PyTorch converts. */
    public static short toBf16(float f) {
        int bits = Float.floatToRawIntBits(f);
        int rounding = 0x7FFF + ((bits >>> 16) & 1);
        return (short) ((bits + rounding) >>> 16);
    }
}
