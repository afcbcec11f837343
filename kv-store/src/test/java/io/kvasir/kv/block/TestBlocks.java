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
        return new KvBlock(model, layout, fill(layout.columnBytes(0), random), fill(layout.columnBytes(1), random));
    }

    private static ByteBuffer fill(long bytes, SplittableRandom random) {
        byte[] b = new byte[(int) bytes];
        random.nextBytes(b);
        return ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
    }
}
