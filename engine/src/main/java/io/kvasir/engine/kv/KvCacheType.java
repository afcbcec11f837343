package io.kvasir.engine.kv;

import io.kvasir.engine.tensor.DType;
import java.nio.ByteBuffer;
import java.util.Locale;

/**
 * The precision a KV pool keeps (vLLM's {@code --kv-cache-dtype}). Every K/V value is rounded to it
 * when written ({@link #round}), so the pool holds exactly what a block of that type can carry: a
 * block shipped to the store, fetched elsewhere and imported is bit-identical to the one computed
 * there, and a cached prefix continues a sequence exactly as a recomputed one.
 */
public enum KvCacheType {
    F32(4),
    /** IEEE half, round to nearest even: what llama.cpp's {@code --cache-type-k f16} keeps. */
    F16(2),
    /** bfloat16: f32's range with an 8-bit mantissa, round to nearest even. */
    BF16(2);

    private final int bytes;

    KvCacheType(int bytes) {
        this.bytes = bytes;
    }

    /** Bytes per value on the wire, on disk and in a block. */
    public int bytes() {
        return bytes;
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
        throw new IllegalArgumentException("unknown KV cache dtype '" + id + "' (expected auto, f32, f16 or bf16)");
    }

    /** The nearest value this type holds. */
    public float round(float x) {
        return switch (this) {
            case F32 -> x;
            case F16 -> Float.float16ToFloat(Float.floatToFloat16(x));
            case BF16 -> Float.intBitsToFloat(bf16Bits(x) << 16);
        };
    }

    /** Writes {@code x} (a value this type holds) at byte offset {@code at}, little-endian. */
    void put(ByteBuffer out, int at, float x) {
        switch (this) {
            case F32 -> out.putFloat(at, x);
            case F16 -> out.putShort(at, Float.floatToFloat16(x));
            case BF16 -> out.putShort(at, (short) (Float.floatToRawIntBits(x) >>> 16));
        }
    }

    /** Reads the value at byte offset {@code at}. */
    float get(ByteBuffer in, int at) {
        return switch (this) {
            case F32 -> in.getFloat(at);
            case F16 -> Float.float16ToFloat(in.getShort(at));
            case BF16 -> Float.intBitsToFloat(in.getShort(at) << 16);
        };
    }

    private static int bf16Bits(float x) {
        int bits = Float.floatToRawIntBits(x);
        if (Float.isNaN(x)) {
            return (bits >>> 16) | 0x40; // stays a NaN
        }
        return (bits + 0x7FFF + ((bits >>> 16) & 1)) >>> 16;
    }
}
