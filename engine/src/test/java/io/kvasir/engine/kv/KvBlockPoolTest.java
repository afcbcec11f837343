package io.kvasir.engine.kv;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.SplittableRandom;

import org.junit.jupiter.api.Test;

/** 8-bit pools keep codes and scales, and widen to exactly the values their type rounds to. */
class KvBlockPoolTest {
    private static final int LAYERS = 2, HEADS = 3, HEAD_DIM = 8, BLOCK = 5;

    @Test
    void anEightBitPoolWidensEveryRangeAttentionReadsToTheRoundedValues() {
        for (KvCacheType type : new KvCacheType[] {KvCacheType.FP8, KvCacheType.INT8}) {
            int kvDim = HEADS * HEAD_DIM;
            KvBlockPool pool = new KvBlockPool(LAYERS, HEADS, HEAD_DIM, BLOCK, 2, type);
            assertFalse(pool.keepsFloats(), "codes, not floats");
            int block = pool.allocate();
            float[] expected = new float[pool.valuesPerBlock()];
            SplittableRandom rnd = new SplittableRandom(3);
            for (int layer = 0; layer < LAYERS; layer++) {
                for (int slot = 0; slot < BLOCK; slot++) {
                    float[] k = random(rnd, kvDim), v = random(rnd, kvDim);
                    pool.writeKv(block, layer, slot, k, 0, v, 0);
                    for (int h = 0; h < HEADS; h++) {
                        float ks = scale(type, k, h * HEAD_DIM, HEAD_DIM), vs = scale(type, v, h * HEAD_DIM, HEAD_DIM);
                        for (int d = h * HEAD_DIM; d < (h + 1) * HEAD_DIM; d++) {
                            expected[pool.keyOffset(layer, d) + slot] = type.decode(type.encode(k[d], ks), ks);
                            expected[pool.valueOffset(layer, slot) + d] = type.decode(type.encode(v[d], vs), vs);
                        }
                    }
                }
            }
            assertArrayEquals(expected, widen(pool, block, 0, expected.length), type + ": the whole block");
            for (int layer = 0; layer < LAYERS; layer++) {
                for (int h = 0; h < HEADS; h++) { // as attention reads a head: its keys, then each slot's values
                    int keys = pool.keyOffset(layer, h * HEAD_DIM);
                    assertArrayEquals(slice(expected, keys, HEAD_DIM * BLOCK),
                            widen(pool, block, keys, HEAD_DIM * BLOCK), type + " keys of head " + h);
                    int values = pool.valueOffset(layer, 3) + h * HEAD_DIM;
                    assertArrayEquals(slice(expected, values, HEAD_DIM), widen(pool, block, values, HEAD_DIM),
                            type + " values of head " + h);
                }
            }
            assertEquals(2 * LAYERS * BLOCK * kvDim + 2 * LAYERS * BLOCK * HEADS * 4L,
                    pool.bytesPerToken() * BLOCK, "a byte per value and a float per head and token");
        }
    }

    /** Every code, NaNs and subnormals included, through an imported block (the vector paths see them all). */
    @Test
    void everyCodeWidensAsItsTypeDecodesIt() {
        int heads = 2, headDim = 64, block = 16, kvDim = heads * headDim;
        for (KvCacheType type : new KvCacheType[] {KvCacheType.FP8, KvCacheType.INT8}) {
            KvBlockPool pool = new KvBlockPool(1, heads, headDim, block, 1, type);
            int id = pool.allocate();
            long[] bytes = pool.columnBytes();
            ByteBuffer[] columns = new ByteBuffer[4];
            for (int c = 0; c < 4; c++) {
                columns[c] = ByteBuffer.allocate((int) bytes[c]).order(ByteOrder.LITTLE_ENDIAN);
            }
            SplittableRandom rnd = new SplittableRandom(11);
            for (int i = 0; i < block * kvDim; i++) {
                columns[0].put(i, (byte) i);
                columns[1].put(i, (byte) (i * 7 + 3));
            }
            for (int g = 0; g < block * heads; g++) {
                columns[2].putFloat(4 * g, (float) rnd.nextDouble(0.001, 3));
                columns[3].putFloat(4 * g, (float) rnd.nextDouble(0.001, 3));
            }
            pool.importBlock(id, columns);
            float[] expected = new float[pool.valuesPerBlock()];
            for (int slot = 0; slot < block; slot++) {
                for (int d = 0; d < kvDim; d++) {
                    int at = slot * kvDim + d, group = slot * heads + d / headDim;
                    expected[pool.keyOffset(0, d) + slot] = type.decode(columns[0].get(at) & 0xFF,
                            columns[2].getFloat(4 * group));
                    expected[pool.valueOffset(0, slot) + d] = type.decode(columns[1].get(at) & 0xFF,
                            columns[3].getFloat(4 * group));
                }
            }
            float[] widened = widen(pool, id, 0, expected.length);
            for (int i = 0; i < expected.length; i++) {
                assertEquals(Float.floatToIntBits(expected[i]), Float.floatToIntBits(widened[i]), type + " value " + i);
            }
        }
    }

    @Test
    void anEightBitLatentPoolWidensItsRows() {
        int latentDim = 12, ropeDim = 4, width = latentDim + ropeDim;
        for (KvCacheType type : new KvCacheType[] {KvCacheType.FP8, KvCacheType.INT8}) {
            KvBlockPool pool = KvBlockPool.latent(LAYERS, latentDim, ropeDim, BLOCK, 1, type);
            int block = pool.allocate();
            float[] expected = new float[pool.valuesPerBlock()];
            SplittableRandom rnd = new SplittableRandom(5);
            for (int layer = 0; layer < LAYERS; layer++) {
                for (int slot = 0; slot < BLOCK; slot++) {
                    float[] row = random(rnd, width);
                    pool.writeRow(block, layer, slot, row, 0);
                    float ls = scale(type, row, 0, latentDim), rs = scale(type, row, latentDim, ropeDim);
                    for (int d = 0; d < width; d++) {
                        float s = d < latentDim ? ls : rs;
                        expected[pool.rowOffset(layer, slot) + d] = type.decode(type.encode(row[d], s), s);
                    }
                }
            }
            int layer1 = pool.rowOffset(1, 0);
            assertArrayEquals(slice(expected, layer1, BLOCK * width), widen(pool, block, layer1, BLOCK * width),
                    type + ": a layer's rows");
            assertArrayEquals(expected, widen(pool, block, 0, expected.length), type + ": the whole block");
        }
    }

    private static float scale(KvCacheType type, float[] x, int from, int n) {
        float amax = 0;
        for (int i = from; i < from + n; i++) {
            amax = Math.max(amax, Math.abs(x[i]));
        }
        return type.scaleFor(amax);
    }

    private static float[] random(SplittableRandom rnd, int n) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) (rnd.nextGaussian() * (1 + i % 7));
        }
        return x;
    }

    private static float[] widen(KvBlockPool pool, int block, int from, int n) {
        float[] out = new float[n + 3];
        pool.widen(block, from, n, out, 3);
        return slice(out, 3, n);
    }

    private static float[] slice(float[] x, int from, int n) {
        return java.util.Arrays.copyOfRange(x, from, from + n);
    }
}
