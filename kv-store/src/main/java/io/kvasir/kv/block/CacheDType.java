package io.kvasir.kv.block;

import java.util.Locale;

/** Element type of cached K/V (or latents). Values travel as their raw little-endian bits. */
public enum CacheDType {
    F32(4),
    F16(2),
    /** bfloat16: Arrow has no such type, so it travels as int16 bits with the dtype in the metadata. */
    BF16(2),
    /** OCP FP8 E4M3 codes (uint8 bits: Arrow has no fp8), with an f32 scale per group. */
    FP8(1),
    /** int8 codes with an f32 scale per group. */
    INT8(1);

    private final int bytes;

    CacheDType(int bytes) {
        this.bytes = bytes;
    }

    public int bytes() {
        return bytes;
    }

    /** Whether a block of this type carries scale columns beside its values. */
    public boolean scaled() {
        return this == FP8 || this == INT8;
    }

    public String id() {
        return name().toLowerCase(Locale.ROOT);
    }

    public static CacheDType fromId(String id) {
        for (CacheDType t : values()) {
            if (t.id().equals(id)) {
                return t;
            }
        }
        throw new IllegalArgumentException("unknown cache dtype '" + id + "' (expected f32, f16, bf16, fp8 or int8)");
    }
}
