package io.kvasir.kv.block;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;

/**
 * One block's content: its model, layout and columns as raw little-endian values (see
 * {@link BlockLayout}). Decoded blocks are views over the bytes they came from.
 */
public record KvBlock(String modelFingerprint, BlockLayout layout, List<ByteBuffer> columns) {
    public KvBlock {
        if (modelFingerprint == null || modelFingerprint.isEmpty()) {
            throw new IllegalArgumentException("block needs a model fingerprint");
        }
        if (columns.size() != layout.columns()) {
            throw new IllegalArgumentException("a " + layout.dtype().id() + " block has " + layout.columns()
                    + " columns, got " + columns.size());
        }
        ByteBuffer[] checked = new ByteBuffer[columns.size()];
        for (int c = 0; c < checked.length; c++) {
            checked[c] = checked(columns.get(c), layout.columnBytes(c), layout.columnName(c));
        }
        columns = List.of(checked);
    }

    /** A block of an unscaled dtype: its two value columns. */
    public KvBlock(String modelFingerprint, BlockLayout layout, ByteBuffer first, ByteBuffer second) {
        this(modelFingerprint, layout, List.of(first, second));
    }

    public ByteBuffer column(int index) {
        return columns.get(index).duplicate().order(ByteOrder.LITTLE_ENDIAN);
    }

    private static ByteBuffer checked(ByteBuffer column, long expected, String name) {
        if (column.remaining() != expected) {
            throw new IllegalArgumentException("column " + name + " holds " + column.remaining() + " bytes, layout needs "
                    + expected);
        }
        return column.slice().order(ByteOrder.LITTLE_ENDIAN);
    }
}
