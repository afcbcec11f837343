package io.kvasir.kv.block;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.SplittableRandom;

/** Blocks of seeded random values, for tests and benchmarks. */
public final class TestBlocks {
    private TestBlocks() {
    }

    public static KvBlock random(String model, BlockLayout layout, long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        java.util.List<ByteBuffer> columns = new java.util.ArrayList<>();
        for (int c = 0; c < layout.columns(); c++) {
            columns.add(fill(layout.columnBytes(c), random));
        }
        return new KvBlock(model, layout, columns);
    }

    private static ByteBuffer fill(long bytes, SplittableRandom random) {
        byte[] b = new byte[(int) bytes];
        random.nextBytes(b);
        return ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
    }
}
