package io.kvasir.engine.backend;

import java.util.Arrays;

/**
 * The running state of online-softmax attention (FlashAttention's recurrence) for a tile of query
 * rows: several tokens of one sequence × the query heads that share one KV head. The tile walks
 * the sequence's KV blocks once; each block is used by every row while it is in L1, and no row
 * keeps more than one block of scores.
 *
 * <p>Per row r, after the blocks of positions {@code [0, p)}: {@code max[r]} = the largest score
 * seen, {@code sum[r]} = Σ e^(s - max), {@code out[r]} = Σ e^(s - max)·v. Rescaling by
 * {@code e^(oldMax - newMax)} when a block raises the max keeps this exact in real arithmetic;
 * the answer is {@code out[r] / sum[r]}.
 *
 * <p>Scratch shared between the model (which fills queries and ranges) and a {@link Backend}
 * (which runs {@link Backend#attendBlock}); one per worker thread, reused every layer.
 */
public final class AttentionTile {
    public final int headDim;
    /** (maxRows, headDim) queries, already multiplied by the softmax scale */
    public final float[] q;
    /** (maxRows, headDim) unnormalised outputs */
    public final float[] out;
    public final float[] max;
    public final float[] sum;
    /** row r attends to positions {@code [from[r], to[r])}: causal end, sliding-window start */
    public final int[] from;
    public final int[] to;
    private float[] scores = new float[0];
    private float[] block = new float[0];
    private int numRows;

    public AttentionTile(int maxRows, int headDim) {
        this.headDim = headDim;
        this.q = new float[maxRows * headDim];
        this.out = new float[maxRows * headDim];
        this.max = new float[maxRows];
        this.sum = new float[maxRows];
        this.from = new int[maxRows];
        this.to = new int[maxRows];
    }

    /** Starts a tile of {@code numRows} rows: nothing seen yet. Queries and ranges are the caller's to fill. */
    public void reset(int numRows) {
        if (numRows > max.length) {
            throw new IllegalArgumentException("tile holds at most " + max.length + " rows, asked for " + numRows);
        }
        this.numRows = numRows;
        Arrays.fill(max, 0, numRows, Float.NEGATIVE_INFINITY);
        Arrays.fill(sum, 0, numRows, 0f);
        Arrays.fill(out, 0, numRows * headDim, 0f);
    }

    public int numRows() {
        return numRows;
    }

    /** Scratch for one block's scores of every row, {@code (numRows, blockSize)}. */
    public float[] scores(int blockSize) {
        int needed = max.length * blockSize;
        if (scores.length < needed) {
            scores = new float[needed];
        }
        return scores;
    }

    /** Scratch for one KV head's part of a block, widened from a 16-bit pool. */
    public float[] block(int size) {
        if (block.length < size) {
            block = new float[size];
        }
        return block;
    }

    /** Row r's attention output, {@code out[r] / sum[r]}, into {@code dest[destOff ..]}. */
    public void result(int r, float[] dest, int destOff) {
        float inv = 1f / sum[r];
        int o = r * headDim;
        for (int d = 0; d < headDim; d++) {
            dest[destOff + d] = out[o + d] * inv;
        }
    }
}
