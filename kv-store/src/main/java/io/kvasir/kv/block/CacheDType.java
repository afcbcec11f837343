package io.kvasir.kv.block;

import java.util.Locale;

/** Element type of cached K/V (or latents). Values travel as their raw little-endian bits. */
public enum CacheDType {
    F32(4),
    F16(2),
    /** bfloat16: Arrow has no such type, so it travels as int16 bits with the dtype in the metadata. */
    BF16(2);

    private final int bytes;

    CacheDType(int bytes) {
        this.bytes = bytes;
    }

    public int bytes() {
        return bytes;
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
        throw new IllegalArgumentException("unknown cache dtype '" + id + "' (expected f32, f16 or bf16)");
    }
}
