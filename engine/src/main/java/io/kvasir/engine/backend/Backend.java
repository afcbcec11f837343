package io.kvasir.engine.backend;

import io.kvasir.engine.tensor.WeightMatrix;

/**
 * The few primitives the forward pass needs. {@link io.kvasir.engine.backend.reference.ReferenceBackend}
 * is the scalar oracle that defines what is correct; faster backends are tested against it.
 *
 * <p>Implementations are used by one step loop at a time (they own worker threads and scratch space).
 */
public interface Backend extends AutoCloseable {

    /**
     * {@code out[t][r] = Σ_c w[r][c] · x[t][c]} for {@code t < numTokens}, with {@code x} laid out
     * {@code [numTokens][w.cols()]} and {@code out} {@code [numTokens][w.rows()]}.
     */
    void matmul(WeightMatrix w, float[] x, float[] out, int numTokens);

    /** Row {@code row} of {@code w}, converted to float, into {@code out[offset ..]}. */
    void dequantizeRow(WeightMatrix w, int row, float[] out, int offset);

    /** {@code Σ a[aOff+i]·b[bOff+i]}, i < n. */
    float dot(float[] a, int aOff, float[] b, int bOff, int n);

    /** {@code y[yOff+i] += alpha · x[xOff+i]}, i < n. */
    void axpy(float alpha, float[] x, int xOff, float[] y, int yOff, int n);

    /**
     * Weighted sum of value rows: {@code out[outOff+d] += Σ_s weights[wOff+s] · values[vOff + s·rowStride + d]}
     * for s < numRows, d < width.
     */
    void addWeightedRows(float[] weights, int wOff, float[] values, int vOff, int rowStride, int numRows,
                         float[] out, int outOff, int width);

    /**
     * One KV block's step of online-softmax attention for every row of {@code tile}: slot s of the
     * block holds position {@code firstPosition + s} (s < numSlots), its key at
     * {@code block[keys + d·blockSize + s]} and its value at {@code block[values + s·valueStride + d]}.
     * A row skips the positions outside its {@code [from, to)}.
     */
    void attendBlock(AttentionTile tile, float[] block, int keys, int values, int valueStride, int blockSize,
                     int firstPosition, int numSlots);

    /** Softmax of {@code x[0, n)} in place: {@code e^(x_i - max) / Σ_j e^(x_j - max)}. */
    void softmax(float[] x, int n);

    /** {@code gate[i] = silu(gate[i]) · up[i]} for i < n, silu(g) = g / (1 + e^-g): SwiGLU's activation. */
    void swiGlu(float[] gate, float[] up, int n);

    /**
     * The SwiGLU feed-forward block for {@code numTokens} tokens:
     * {@code out = down · (silu(gate · x) ⊙ (up · x))}, x {@code [numTokens][gate.cols()]}, out
     * {@code [numTokens][down.rows()]}; {@code hGate} and {@code hUp} ({@code [numTokens][gate.rows()]})
     * are scratch. A backend may keep the hidden activations in a layout of its own between the
     * three matmuls; the result is that of the three calls.
     */
    default void feedForward(WeightMatrix gate, WeightMatrix up, WeightMatrix down, float[] x, float[] hGate,
                             float[] hUp, float[] out, int numTokens) {
        matmul(gate, x, hGate, numTokens);
        matmul(up, x, hUp, numTokens);
        swiGlu(hGate, hUp, numTokens * gate.rows());
        matmul(down, hGate, out, numTokens);
    }

    /** Runs {@code body} over {@code [0, count)} split into at most {@link #numThreads()} chunks. */
    void parallelFor(int count, RangeBody body);

    int numThreads();

    @Override
    default void close() {
    }

    /** One chunk {@code [from, to)} of a parallel loop; {@code chunk < numThreads()} indexes scratch space. */
    @FunctionalInterface
    interface RangeBody {
        void run(int chunk, int from, int to);
    }
}
