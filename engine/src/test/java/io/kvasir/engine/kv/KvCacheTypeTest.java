package io.kvasir.engine.kv;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.kvasir.engine.tensor.DType;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class KvCacheTypeTest {
    @Test
    void autoFollowsTheWeightsForHalfModelsAndIsF16Otherwise() {
        assertEquals(KvCacheType.BF16, KvCacheType.parse("auto", DType.BF16));
        assertEquals(KvCacheType.F16, KvCacheType.parse("auto", DType.F16));
        assertEquals(KvCacheType.F16, KvCacheType.parse("auto", DType.F32));
        assertEquals(KvCacheType.F16, KvCacheType.parse("auto", DType.Q8_0));
        assertEquals(KvCacheType.F32, KvCacheType.parse("f32", DType.BF16));
        var e = assertThrows(IllegalArgumentException.class, () -> KvCacheType.parse("fp16", DType.F32));
        assertTrue(e.getMessage().contains("'fp16'"), e.getMessage());
    }

    @Test
    void bf16RoundsToNearestEven() {
        assertEquals(1f, KvCacheType.BF16.round(1f + 0x1p-8f)); // half an ulp: down to the even neighbour
        assertEquals(1f + 0x1p-6f, KvCacheType.BF16.round(1f + 3 * 0x1p-8f)); // 1.5 ulp: up to the even one
        assertEquals(-1f - 0x1p-7f, KvCacheType.BF16.round(-1f - 0x1p-7f - 0x1p-10f));
        assertTrue(Float.isNaN(KvCacheType.BF16.round(Float.NaN)));
        assertEquals(Float.POSITIVE_INFINITY, KvCacheType.BF16.round(Float.MAX_VALUE));
    }

    @Test
    void fp8IsE4m3AndRoundsToNearestEven() {
        KvCacheType fp8 = KvCacheType.FP8;
        assertEquals(448f, fp8.decode(0x7E, 1f));
        assertEquals(0x1p-9f, fp8.decode(0x01, 1f)); // the smallest subnormal
        assertEquals(-1.125f, fp8.decode(0xB9, 1f));
        assertTrue(Float.isNaN(fp8.decode(0x7F, 1f)));
        for (int code = 0; code < 256; code++) { // every finite code encodes back to itself
            if ((code & 0x7F) != 0x7F && code != 0x80) {
                assertEquals(code, fp8.encode(fp8.decode(code, 1f), 1f), "code " + code);
            }
        }
        assertEquals(0x38, fp8.encode(1.0625f, 1f)); // halfway between 1 (even) and 1.125: down
        assertEquals(0x3A, fp8.encode(1.1875f, 1f)); // halfway between 1.125 and 1.25 (even): up
        assertEquals(0x7E, fp8.encode(500f, 1f)); // saturates at 448
        assertEquals(1f / 448, fp8.scaleFor(1f));
        assertEquals(0f, fp8.scaleFor(0f));
        assertEquals(0, fp8.encode(3f, 0f));
    }

    @Test
    void int8IsSymmetricAndSaturates() {
        KvCacheType int8 = KvCacheType.INT8;
        float scale = int8.scaleFor(2.54f);
        assertEquals(127, int8.encode(2.54f, scale));
        assertEquals(-127, int8.encode(-2.54f, scale));
        assertEquals(-65, int8.encode(-1.3f, scale));
        assertEquals(-65 * scale, int8.decode(int8.encode(-1.3f, scale) & 0xFF, scale));
        assertEquals(127, int8.encode(9f, scale)); // saturates
    }

    /** A rounded value survives its trip through a block's bits exactly; rounding is idempotent. */
    @Test
    void roundedValuesTravelExactly() {
        SplittableRandom rnd = new SplittableRandom(7);
        for (KvCacheType type : new KvCacheType[] {KvCacheType.F32, KvCacheType.F16, KvCacheType.BF16}) {
            for (int i = 0; i < 100_000; i++) {
                float x = (float) (rnd.nextGaussian() * Math.pow(2, rnd.nextInt(-30, 30)));
                float r = type.round(x);
                assertEquals(Float.floatToIntBits(r), Float.floatToIntBits(type.round(r)), type + " " + x);
                float back = type == KvCacheType.F32 ? r : type.widen16(type.bits16(r)); // what a block keeps
                assertEquals(Float.floatToIntBits(r), Float.floatToIntBits(back), type + " " + x);
                float error = Math.abs(r - x) / Math.max(Math.abs(x), 0x1p-14f);
                assertTrue(error <= (type == KvCacheType.BF16 ? 0x1p-8f : 0x1p-11f) || Float.isInfinite(r),
                        type + " rounds " + x + " to " + r);
            }
        }
    }
}
