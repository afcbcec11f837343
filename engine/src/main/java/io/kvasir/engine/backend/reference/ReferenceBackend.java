package io.kvasir.engine.backend.reference;

import io.kvasir.engine.backend.AttentionTile;
import io.kvasir.engine.backend.Backend;
import io.kvasir.engine.tensor.DType;
import io.kvasir.engine.tensor.QuantizedBlocks;
import io.kvasir.engine.tensor.WeightMatrix;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/** Scalar, single-threaded, obviously correct: the oracle the fast backends are tested against. */
public final class ReferenceBackend implements Backend {
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** Element {@code i} of row {@code row}, converted to float. */
    public static float element(WeightMatrix w, int row, int i) {
        MemorySegment s = w.data();
        long base = row * w.rowBytes();
        return switch (w.dtype()) {
            case F32 -> s.get(F32, base + 4L * i);
            case F16 -> Float.float16ToFloat(s.get(I16, base + 2L * i));
            case BF16 -> Float.intBitsToFloat(s.get(I16, base + 2L * i) << 16);
            case Q8_0 -> {
                long block = base + (long) (i / 32) * DType.Q8_0.blockBytes;
                float d = Float.float16ToFloat(s.get(I16, block));
                yield d * s.get(ValueLayout.JAVA_BYTE, block + 2 + i % 32);
            }
            default -> QuantizedBlocks.element(w.dtype(), s, base + (long) (i / w.dtype().blockSize) * w.dtype().blockBytes,
                    i % w.dtype().blockSize);
        };
    }

    @Override
    public void matmul(WeightMatrix w, float[] x, float[] out, int numTokens) {
        int cols = w.cols(), rows = w.rows();
        for (int t = 0; t < numTokens; t++) {
            for (int r = 0; r < rows; r++) {
                float sum = 0;
                for (int c = 0; c < cols; c++) {
                    sum += element(w, r, c) * x[t * cols + c];
                }
                out[t * rows + r] = sum;
            }
        }
    }

    @Override
    public void dequantizeRow(WeightMatrix w, int row, float[] out, int offset) {
        for (int c = 0; c < w.cols(); c++) {
            out[offset + c] = element(w, row, c);
        }
    }

    @Override
    public float dot(float[] a, int aOff, float[] b, int bOff, int n) {
        float sum = 0;
        for (int i = 0; i < n; i++) {
            sum += a[aOff + i] * b[bOff + i];
        }
        return sum;
    }

    @Override
    public void axpy(float alpha, float[] x, int xOff, float[] y, int yOff, int n) {
        for (int i = 0; i < n; i++) {
            y[yOff + i] += alpha * x[xOff + i];
        }
    }

    @Override
    public void addWeightedRows(float[] weights, int wOff, float[] values, int vOff, int rowStride, int numRows,
                                float[] out, int outOff, int width) {
        for (int r = 0; r < numRows; r++) {
            axpy(weights[wOff + r], values, vOff + r * rowStride, out, outOff, width);
        }
    }

    @Override
    public void attendBlock(AttentionTile tile, float[] block, int keys, int values, int valueStride, int blockSize,
                            int firstPosition, int numSlots) {
        int headDim = tile.headDim;
        float[] scores = tile.scores(blockSize);
        for (int r = 0; r < tile.numRows(); r++) {
            int lo = Math.max(tile.from[r] - firstPosition, 0), hi = Math.min(tile.to[r] - firstPosition, numSlots);
            if (lo >= hi) {
                continue;
            }
            float blockMax = Float.NEGATIVE_INFINITY;
            for (int slot = lo; slot < hi; slot++) {
                float s = 0;
                for (int d = 0; d < headDim; d++) {
                    s += tile.q[r * headDim + d] * block[keys + d * blockSize + slot];
                }
                scores[slot] = s;
                blockMax = Math.max(blockMax, s);
            }
            float newMax = Math.max(tile.max[r], blockMax);
            float correction = (float) Math.exp(tile.max[r] - newMax); // 0 for the row's first block
            tile.sum[r] *= correction;
            for (int d = 0; d < headDim; d++) {
                tile.out[r * headDim + d] *= correction;
            }
            for (int slot = lo; slot < hi; slot++) {
                float p = (float) Math.exp(scores[slot] - newMax);
                tile.sum[r] += p;
                axpy(p, block, values + slot * valueStride, tile.out, r * headDim, headDim);
            }
            tile.max[r] = newMax;
        }
    }

    @Override
    public void softmax(float[] x, int n) {
        float max = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < n; i++) max = Math.max(max, x[i]);
        double sum = 0;
        for (int i = 0; i < n; i++) {
            x[i] = (float) Math.exp(x[i] - max);
            sum += x[i];
        }
        float inv = (float) (1.0 / sum);
        for (int i = 0; i < n; i++) x[i] *= inv;
    }

    @Override
    public void swiGlu(float[] gate, float[] up, int n) {
        for (int i = 0; i < n; i++) {
            float g = gate[i];
            gate[i] = g / (1f + (float) Math.exp(-g)) * up[i];
        }
    }

    @Override
    public void parallelFor(int count, RangeBody body) {
        body.run(0, 0, count);
    }

    @Override
    public int numThreads() {
        return 1;
    }
}
