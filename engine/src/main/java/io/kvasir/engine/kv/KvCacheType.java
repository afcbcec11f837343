package io.kvasir.engine.kv;

import io.kvasir.engine.tensor.DType;
import java.util.Arrays;
import java.util.Locale;

/**
 * The precision a KV pool keeps (vLLM's {@code --kv-cache-dtype}). Every K/V value is rounded to
 * it when written, so the pool holds exactly what a block of that type carries: a block shipped to
 * the store, fetched elsewhere and imported is bit-identical to the one computed there, and a
 * cached prefix continues a sequence exactly as a recomputed one.
 *
 * <p>The 8-bit types are scaled: each group of values (one head of one token's key or value; for
 * MLA the latent, and the rope key) has its own f32 scale {@code amax / max code}, and a value is
 * kept as {@code decode(code) · scale}.
 */
public enum KvCacheType {
    F32(4),
    /** IEEE half, round to nearest even: what llama.cpp's {@code --cache-type-k f16} keeps. */
    F16(2),
    /** bfloat16: f32's range with an 8-bit mantissa, round to nearest even. */
    BF16(2),
    /** OCP FP8 E4M3 (no infinities, largest 448), scaled per group, round to nearest even. */
    FP8(1),
    /** Signed 8-bit integers in [-127, 127], scaled per group, round to nearest even. */
    INT8(1);

    private static final float[] FP8_VALUES = fp8Values();
    private static final float[] FP8_POSITIVE = Arrays.copyOf(FP8_VALUES, 127); // codes 0..126, ascending

    private final int bytes;

    KvCacheType(int bytes) {
        this.bytes = bytes;
    }

    /** Bytes per value on the wire, on disk and in a block (scaled types add 4 per group). */
    public int bytes() {
        return bytes;
    }

    /** Whether values are codes with a scale per group. */
    public boolean scaled() {
        return this == FP8 || this == INT8;
    }

    public String id() {
        return name().toLowerCase(Locale.ROOT);
    }

    /**
     * {@code auto} or a type's id. {@code auto} follows vLLM: the weights' dtype for F16 and BF16
     * models, f16 otherwise; {@code weights} is the dtype of the model's attention output matrix.
     */
    public static KvCacheType parse(String id, DType weights) {
        if (id.equals("auto")) {
            return weights == DType.BF16 ? BF16 : F16;
        }
        for (KvCacheType t : values()) {
            if (t.id().equals(id)) {
                return t;
            }
        }
        throw new IllegalArgumentException("unknown KV cache dtype '" + id
                + "' (expected auto, f32, f16, bf16, fp8 or int8)");
    }

    /** The nearest value an unscaled type holds. */
    public float round(float x) {
        return switch (this) {
            case F32 -> x;
            case F16, BF16 -> widen16(bits16(x));
            case FP8, INT8 -> throw new IllegalStateException(id() + " values are rounded per group");
        };
    }

    /** The scale of a group whose largest magnitude is {@code amax}: 0 for an all-zero (or vanishing) group. */
    float scaleFor(float amax) {
        float max = this == FP8 ? 448f : 127f;
        return amax < 0x1p-100f || !Float.isFinite(amax) ? 0f : amax / max;
    }

    /** The code nearest {@code x / scale}. */
    int encode(float x, float scale) {
        if (scale == 0f) {
            return 0;
        }
        float r = x / scale;
        if (this == INT8) {
            return (int) Math.clamp(Math.rint(r), -127, 127);
        }
        float a = Math.abs(r);
        int i = Arrays.binarySearch(FP8_POSITIVE, a);
        int code;
        if (i >= 0) {
            code = i;
        } else {
            int hi = -i - 1;
            if (hi >= FP8_POSITIVE.length) {
                code = FP8_POSITIVE.length - 1; // beyond 448 (by rounding): saturate
            } else {
                int lo = hi - 1;
                float dl = a - FP8_POSITIVE[lo], dh = FP8_POSITIVE[hi] - a;
                code = dl < dh || (dl == dh && (lo & 1) == 0) ? lo : hi;
            }
        }
        return r < 0 && code != 0 ? code | 0x80 : code;
    }

    /** The value a code stands for, at {@code scale}. */
    float decode(int code, float scale) {
        return unscaled((byte) code) * scale;
    }

    /** An 8-bit code's value before its scale. */
    float unscaled(byte code) {
        return this == INT8 ? code : FP8_VALUES[code & 0xFF];
    }

    /** The 16 bits of the nearest value of an f16 or bf16 type. */
    short bits16(float x) {
        return switch (this) {
            case F16 -> Float.floatToFloat16(x);
            case BF16 -> (short) bf16Bits(x);
            default -> throw new IllegalStateException(id() + " is not a 16-bit type");
        };
    }

    /** The value 16 bits of an f16 or bf16 type stand for (the pool widens whole runs of them itself). */
    float widen16(short bits) {
        return this == F16 ? Float.float16ToFloat(bits) : Float.intBitsToFloat(bits << 16);
    }

    private static int bf16Bits(float x) {
        int bits = Float.floatToRawIntBits(x);
        if (Float.isNaN(x)) {
            return (bits >>> 16) | 0x40; // stays a NaN
        }
        return (bits + 0x7FFF + ((bits >>> 16) & 1)) >>> 16;
    }

    /** E4M3 by code: sign, 4 exponent bits (bias 7), 3 mantissa bits; 0x7F and 0xFF are NaN. */
    private static float[] fp8Values() {
        float[] v = new float[256];
        for (int code = 0; code < 256; code++) {
            int e = (code >>> 3) & 0xF, m = code & 7;
            float magnitude = e == 0 ? m * 0x1p-9f : (1 + m / 8f) * (float) Math.pow(2, e - 7);
            v[code] = (code & 0x7F) == 0x7F ? Float.NaN : (code & 0x80) != 0 ? -magnitude : magnitude;
        }
        return v;
    }
}
