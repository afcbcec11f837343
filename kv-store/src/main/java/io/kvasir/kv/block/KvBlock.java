package io.kvasir.kv.block;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * One block's content: its model, layout and the two columns as raw little-endian values
 * (see {@link BlockLayout}). Decoded blocks are views over the bytes they came from.
 */
public record KvBlock(String modelFingerprint, BlockLayout layout, ByteBuffer first, ByteBuffer second) {
    public KvBlock {
        if (modelFingerprint == null || modelFingerprint.isEmpty()) {
            throw new IllegalArgumentException("block needs a model fingerprint");
        }
        first = checked(first, layout.columnBytes(0), layout.kind().firstColumn());
        second = checked(second, layout.columnBytes(1), layout.kind().secondColumn());
    }

    public ByteBuffer column(int index) {
        return (index == 0 ? first : second).duplicate().order(ByteOrder.LITTLE_ENDIAN);
    }

    private static ByteBuffer checked(ByteBuffer column, long expected, String name) {
        if (column.remaining() != expected) {
            throw new IllegalArgumentException("column " + name + " holds " + column.remaining() + " bytes, layout needs "
                    + expected);
        }
        return column.slice().order(ByteOrder.LITTLE_ENDIAN);
    }
}
