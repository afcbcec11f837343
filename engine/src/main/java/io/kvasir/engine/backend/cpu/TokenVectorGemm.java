package io.kvasir.engine.backend.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * The multi-token matmul for many tokens (prefill chunks), vectorised across tokens instead of
 * along k: {@code out[t][r] = Σ_k panel[r][k]·xT[k][t]} with the activations transposed once per
 * matmul ({@link #transpose}) and a panel of {@link #ROWS} weight rows widened to F32.
 *
 * <p>Why: {@link TiledGemm} dots rows with tokens along k, so each FMA needs a vector of weights
 * and one of activations (8 loads per 16 FMAs, 32 bytes per FMA, more than L1 holds for one tile;
 * the profile showed it waiting on L2) and ends in a horizontal sum per output. Here each k step
 * broadcasts one weight per row (a 4-byte load) against vectors of 16 tokens: the 8 × 32 register
 * tile issues 16 FMAs for 2 vector loads and 8 broadcasts (10 bytes per FMA), and every
 * accumulator already holds 16 finished outputs. Transposing x costs one pass over it per matmul,
 * shared by every panel.
 */
final class TokenVectorGemm {
    static final int ROWS = 8;
    private static final VectorSpecies<Float> F = Vectors.F;
    static final int LANES = F.length();
    private static final int TRANSPOSE_BAND = 32;

    private TokenVectorGemm() {
    }

    /** Tokens rounded up to whole vectors: the row length of the transposed activations. */
    static int paddedTokens(int numTokens) {
        return (numTokens + LANES - 1) / LANES * LANES;
    }

    /** {@code xT[c][t] = x[t][c]}, tokens padded with zeros to {@link #paddedTokens}. */
    static void transpose(float[] x, int numTokens, int k, float[] xT) {
        int padded = paddedTokens(numTokens);
        // a band of columns at a time, so the rows of xT being written stay in L1
        for (int c0 = 0; c0 < k; c0 += TRANSPOSE_BAND) {
            int c1 = Math.min(k, c0 + TRANSPOSE_BAND);
            for (int t = 0; t < numTokens; t++) {
                int row = t * k;
                for (int c = c0; c < c1; c++) {
                    xT[c * padded + t] = x[row + c];
                }
            }
        }
        for (int c = 0; c < k; c++) {
            java.util.Arrays.fill(xT, c * padded + numTokens, c * padded + padded, 0f);
        }
    }

    /**
     * @param panel (ROWS, k) widened weight rows {@code r0 .. r0+ROWS-1}
     * @param xT    (k, paddedTokens(numTokens)) transposed activations
     * @param out   (numTokens, rows) results, this writing columns {@code r0 .. r0+ROWS-1}; or, with
     *              {@code transposedOut}, (rows, paddedTokens(numTokens)), this writing rows
     *              {@code r0 ..} whole (padding lanes included), laid out as the next matmul's xT
     * @param lanes scratch of at least {@link #LANES} floats
     */
    static void multiply(float[] panel, int k, float[] xT, int numTokens, float[] out, boolean transposedOut, int rows,
                         int r0, float[] lanes) {
        int padded = paddedTokens(numTokens), t = 0;
        for (; t + 2 * LANES <= padded; t += 2 * LANES) {
            tile8x2(panel, k, xT, padded, t, numTokens, out, transposedOut, rows, r0, lanes);
        }
        if (t < padded) {
            tile8x1(panel, k, xT, padded, t, numTokens, out, transposedOut, rows, r0, lanes);
        }
    }

    private static void tile8x2(float[] w, int k, float[] xT, int padded, int t, int numTokens, float[] out,
                                boolean transposedOut, int rows, int r0, float[] lanes) {
        FloatVector a00 = FloatVector.zero(F), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00, a30 = a00, a31 = a00;
        FloatVector a40 = a00, a41 = a00, a50 = a00, a51 = a00, a60 = a00, a61 = a00, a70 = a00, a71 = a00;
        int w1 = k, w2 = 2 * k, w3 = 3 * k, w4 = 4 * k, w5 = 5 * k, w6 = 6 * k, w7 = 7 * k;
        for (int c = 0, x = t; c < k; c++, x += padded) {
            FloatVector x0 = FloatVector.fromArray(F, xT, x), x1 = FloatVector.fromArray(F, xT, x + LANES);
            FloatVector b = FloatVector.broadcast(F, w[c]);
            a00 = x0.fma(b, a00); a01 = x1.fma(b, a01);
            b = FloatVector.broadcast(F, w[w1 + c]);
            a10 = x0.fma(b, a10); a11 = x1.fma(b, a11);
            b = FloatVector.broadcast(F, w[w2 + c]);
            a20 = x0.fma(b, a20); a21 = x1.fma(b, a21);
            b = FloatVector.broadcast(F, w[w3 + c]);
            a30 = x0.fma(b, a30); a31 = x1.fma(b, a31);
            b = FloatVector.broadcast(F, w[w4 + c]);
            a40 = x0.fma(b, a40); a41 = x1.fma(b, a41);
            b = FloatVector.broadcast(F, w[w5 + c]);
            a50 = x0.fma(b, a50); a51 = x1.fma(b, a51);
            b = FloatVector.broadcast(F, w[w6 + c]);
            a60 = x0.fma(b, a60); a61 = x1.fma(b, a61);
            b = FloatVector.broadcast(F, w[w7 + c]);
            a70 = x0.fma(b, a70); a71 = x1.fma(b, a71);
        }
        if (transposedOut) {
            int o = r0 * padded + t, o1 = o + LANES;
            a00.intoArray(out, o); a01.intoArray(out, o1); o += padded; o1 += padded;
            a10.intoArray(out, o); a11.intoArray(out, o1); o += padded; o1 += padded;
            a20.intoArray(out, o); a21.intoArray(out, o1); o += padded; o1 += padded;
            a30.intoArray(out, o); a31.intoArray(out, o1); o += padded; o1 += padded;
            a40.intoArray(out, o); a41.intoArray(out, o1); o += padded; o1 += padded;
            a50.intoArray(out, o); a51.intoArray(out, o1); o += padded; o1 += padded;
            a60.intoArray(out, o); a61.intoArray(out, o1); o += padded; o1 += padded;
            a70.intoArray(out, o); a71.intoArray(out, o1);
            return;
        }
        int t1 = t + LANES;
        store(a00, t, 0, numTokens, out, rows, r0, lanes); store(a01, t1, 0, numTokens, out, rows, r0, lanes);
        store(a10, t, 1, numTokens, out, rows, r0, lanes); store(a11, t1, 1, numTokens, out, rows, r0, lanes);
        store(a20, t, 2, numTokens, out, rows, r0, lanes); store(a21, t1, 2, numTokens, out, rows, r0, lanes);
        store(a30, t, 3, numTokens, out, rows, r0, lanes); store(a31, t1, 3, numTokens, out, rows, r0, lanes);
        store(a40, t, 4, numTokens, out, rows, r0, lanes); store(a41, t1, 4, numTokens, out, rows, r0, lanes);
        store(a50, t, 5, numTokens, out, rows, r0, lanes); store(a51, t1, 5, numTokens, out, rows, r0, lanes);
        store(a60, t, 6, numTokens, out, rows, r0, lanes); store(a61, t1, 6, numTokens, out, rows, r0, lanes);
        store(a70, t, 7, numTokens, out, rows, r0, lanes); store(a71, t1, 7, numTokens, out, rows, r0, lanes);
    }

    private static void tile8x1(float[] w, int k, float[] xT, int padded, int t, int numTokens, float[] out,
                                boolean transposedOut, int rows, int r0, float[] lanes) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
        for (int c = 0, x = t; c < k; c++, x += padded) {
            FloatVector v = FloatVector.fromArray(F, xT, x);
            a0 = v.fma(FloatVector.broadcast(F, w[c]), a0);
            a1 = v.fma(FloatVector.broadcast(F, w[k + c]), a1);
            a2 = v.fma(FloatVector.broadcast(F, w[2 * k + c]), a2);
            a3 = v.fma(FloatVector.broadcast(F, w[3 * k + c]), a3);
            a4 = v.fma(FloatVector.broadcast(F, w[4 * k + c]), a4);
            a5 = v.fma(FloatVector.broadcast(F, w[5 * k + c]), a5);
            a6 = v.fma(FloatVector.broadcast(F, w[6 * k + c]), a6);
            a7 = v.fma(FloatVector.broadcast(F, w[7 * k + c]), a7);
        }
        if (transposedOut) {
            int o = r0 * padded + t;
            a0.intoArray(out, o); a1.intoArray(out, o + padded); a2.intoArray(out, o + 2 * padded);
            a3.intoArray(out, o + 3 * padded); a4.intoArray(out, o + 4 * padded); a5.intoArray(out, o + 5 * padded);
            a6.intoArray(out, o + 6 * padded); a7.intoArray(out, o + 7 * padded);
            return;
        }
        store(a0, t, 0, numTokens, out, rows, r0, lanes); store(a1, t, 1, numTokens, out, rows, r0, lanes);
        store(a2, t, 2, numTokens, out, rows, r0, lanes); store(a3, t, 3, numTokens, out, rows, r0, lanes);
        store(a4, t, 4, numTokens, out, rows, r0, lanes); store(a5, t, 5, numTokens, out, rows, r0, lanes);
        store(a6, t, 6, numTokens, out, rows, r0, lanes); store(a7, t, 7, numTokens, out, rows, r0, lanes);
    }

    /** Lanes of {@code acc} are tokens {@code t ..} of row {@code r0 + row}; padding lanes are dropped. */
    private static void store(FloatVector acc, int t, int row, int numTokens, float[] out, int rows, int r0, float[] lanes) {
        acc.intoArray(lanes, 0);
        int n = Math.min(LANES, numTokens - t);
        for (int i = 0, o = t * rows + r0 + row; i < n; i++, o += rows) {
            out[o] = lanes[i];
        }
    }
}
