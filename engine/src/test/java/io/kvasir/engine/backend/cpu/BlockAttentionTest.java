package io.kvasir.engine.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.kvasir.engine.backend.AttentionTile;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Online-softmax attention block by block ({@code attendBlock}) against softmax over each row's
 * whole range computed at once in double: the vector kernel and the scalar one, with row counts
 * that are and are not multiples of 4, blocks smaller than a vector and partly filled last
 * blocks, head dimensions with a scalar tail, and rows whose range starts late (sliding windows)
 * or ends early (causal), so some blocks are partly or wholly masked for some rows.
 */
class BlockAttentionTest {

    @ParameterizedTest(name = "headDim {0}, block {1}, {2} rows, {3} positions, {4} path")
    @CsvSource({
            "64,16,64,200,VECTOR", "64,16,64,200,SCALAR", "64,16,7,37,VECTOR", "72,32,13,100,VECTOR",
            "64,5,9,23,VECTOR", "64,4,4,16,VECTOR", "16,16,1,3,VECTOR", "72,32,13,100,SCALAR"})
    void blockByBlock_matchesSoftmaxOverTheWholeRange(int headDim, int blockSize, int rows, int positions,
                                                      VectorCpuBackend.Path path) {
        var random = new Random(7 + rows);
        int numBlocks = (positions + blockSize - 1) / blockSize, valueStride = headDim + 3;
        // per block: keys [headDim][blockSize], then values [blockSize][valueStride]
        int keys = 0, values = headDim * blockSize;
        float[][] blocks = new float[numBlocks][values + blockSize * valueStride];
        for (float[] block : blocks) {
            for (int i = 0; i < block.length; i++) block[i] = (float) random.nextGaussian();
        }
        var tile = new AttentionTile(rows, headDim);
        tile.reset(rows);
        for (int r = 0; r < rows; r++) {
            for (int d = 0; d < headDim; d++) tile.q[r * headDim + d] = (float) (random.nextGaussian() * 0.5);
            tile.to[r] = 1 + random.nextInt(positions);
            tile.from[r] = r % 3 == 0 ? random.nextInt(tile.to[r]) : 0;
        }
        try (var backend = new VectorCpuBackend(1, path)) {
            for (int b = 0; b < numBlocks; b++) {
                int first = b * blockSize;
                backend.attendBlock(tile, blocks[b], keys, values, valueStride, blockSize, first,
                        Math.min(blockSize, positions - first));
            }
        }
        float[] actual = new float[headDim];
        for (int r = 0; r < rows; r++) {
            double[] expected = softmaxAttention(tile, r, blocks, blockSize, keys, values, valueStride);
            tile.result(r, actual, 0);
            for (int d = 0; d < headDim; d++) {
                assertEquals(expected[d], actual[d], 1e-5, "row " + r + " dim " + d);
            }
        }
    }

    private static double[] softmaxAttention(AttentionTile tile, int r, float[][] blocks, int blockSize, int keys,
                                             int values, int valueStride) {
        int hd = tile.headDim, n = tile.to[r] - tile.from[r];
        double[] scores = new double[n];
        double max = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < n; i++) {
            int p = tile.from[r] + i;
            float[] block = blocks[p / blockSize];
            for (int d = 0; d < hd; d++) scores[i] += (double) tile.q[r * hd + d] * block[keys + d * blockSize + p % blockSize];
            max = Math.max(max, scores[i]);
        }
        double sum = 0;
        double[] out = new double[hd];
        for (int i = 0; i < n; i++) {
            int p = tile.from[r] + i;
            double w = Math.exp(scores[i] - max);
            sum += w;
            for (int d = 0; d < hd; d++) out[d] += w * blocks[p / blockSize][values + (p % blockSize) * valueStride + d];
        }
        for (int d = 0; d < hd; d++) out[d] /= sum;
        return out;
    }
}
