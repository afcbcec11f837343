package io.kvasir.kv.block;

import java.util.Arrays;
import java.util.HexFormat;

/** A block's identity: the 32-byte SHA-256 from {@link BlockKeys}. Immutable; compares by content. */
public final class BlockKey {
    public static final int BYTES = 32;

    private final byte[] bytes;

    private BlockKey(byte[] bytes) {
        this.bytes = bytes;
    }

    /** Copies {@code bytes}; they must be exactly 32. */
    public static BlockKey of(byte[] bytes) {
        if (bytes.length != BYTES) {
            throw new IllegalArgumentException("block key must be " + BYTES + " bytes, got " + bytes.length);
        }
        return new BlockKey(bytes.clone());
    }

    static BlockKey wrap(byte[] digest) {
        return new BlockKey(digest);
    }

    public static BlockKey fromHex(String hex) {
        return of(HexFormat.of().parseHex(hex));
    }

    /** A copy of the 32 bytes. */
    public byte[] toBytes() {
        return bytes.clone();
    }

    public String hex() {
        return HexFormat.of().formatHex(bytes);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof BlockKey other && Arrays.equals(bytes, other.bytes);
    }

    @Override
    public int hashCode() {
        // the bytes are a uniform hash already
        return (bytes[0] & 0xff) | (bytes[1] & 0xff) << 8 | (bytes[2] & 0xff) << 16 | bytes[3] << 24;
    }

    @Override
    public String toString() {
        return hex().substring(0, 16) + "…";
    }
}
