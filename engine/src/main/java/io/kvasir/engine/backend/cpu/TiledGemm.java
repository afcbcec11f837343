package io.kvasir.engine.backend.cpu;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The matmul for a few tokens (decode batches of fewer than a vector of tokens; prefill chunks go
 * to {@link TokenVectorGemm}): {@code out[t][r] = Σ_k panel[r][k]·x[t][k]} for a panel of
 * {@link #ROWS} weight rows already widened to F32, vectors along k.
 *
 * <p>Why this shape: widening F16/Q8_0 weights costs more instructions than the FMA that uses them,
 * so each row is widened once into a small panel (L1/L2-resident) and reused by every token of the
 * step. The register tile is 4 rows × 4 tokens: 16 accumulators plus 8 operands fit AVX-512's 32
 * registers (AVX2 spills a few), and each K step issues 16 FMAs for 8 loads. Horizontal sums happen
 * once per (row, token), after the K loop.
 *
 * <p>Reading ahead: widening a panel streams it from memory at one core's miss-handling rate
 * (~6.5 GB/s per thread here), and the tile that follows reads no memory at all, so the two
 * phases took turns. Between the FMAs of its first 4×4 tile, a panel reads one byte per cache line
 * of the next panel (Java has no prefetch instruction; these loads are its stand-in), so the next
 * widening finds its bytes in cache: about a quarter faster on a 1B Q8_0 model's batch-8 decode.
 */
final class TiledGemm {
    static final int ROWS = 4;
    private static final int CACHE_LINE = 64;
    private static final VectorSpecies<Float> F = Vectors.F;

    private TiledGemm() {
    }

    /**
     * @param panel     (ROWS, k) widened weight rows {@code r0 .. r0+ROWS-1}
     * @param x         (numTokens, k) activations
     * @param out       (numTokens, rows) results; this writes columns {@code r0 .. r0+ROWS-1}
     * @param next      the weights' file, and {@code [nextFrom, nextTo)} the bytes of the next panel
     *                  (empty for none): the first 4×4 tile reads one byte per cache line of it
     * @return the sum of the bytes read ahead, for the caller to keep (so the JIT keeps the reads)
     */
    static int multiply(float[] panel, int k, float[] x, int numTokens, float[] out, int rows, int r0,
                        MemorySegment next, long nextFrom, long nextTo) {
        int readAhead = 0;
        int t = 0;
        for (; t + 4 <= numTokens; t += 4) {
            readAhead += tile4x4(panel, k, x, t, out, rows, r0, next, nextFrom, nextTo);
            nextFrom = nextTo;
        }
        for (; t < numTokens; t++) {
            tile4x1(panel, k, x, t, out, rows, r0);
        }
        return readAhead;
    }

    private static int tile4x4(float[] w, int k, float[] x, int t, float[] out, int rows, int r0,
                               MemorySegment next, long line, long nextTo) {
        int readAhead = 0;
        FloatVector a00 = FloatVector.zero(F), a01 = a00, a02 = a00, a03 = a00;
        FloatVector a10 = a00, a11 = a00, a12 = a00, a13 = a00;
        FloatVector a20 = a00, a21 = a00, a22 = a00, a23 = a00;
        FloatVector a30 = a00, a31 = a00, a32 = a00, a33 = a00;
        int x0 = t * k, x1 = x0 + k, x2 = x1 + k, x3 = x2 + k;
        int upper = F.loopBound(k), i = 0;
        for (; i < upper; i += F.length()) {
            FloatVector w0 = FloatVector.fromArray(F, w, i);
            FloatVector w1 = FloatVector.fromArray(F, w, k + i);
            FloatVector w2 = FloatVector.fromArray(F, w, 2 * k + i);
            FloatVector w3 = FloatVector.fromArray(F, w, 3 * k + i);
            if (line < nextTo) {
                readAhead += next.get(ValueLayout.JAVA_BYTE, line);
                line += CACHE_LINE;
            }
            FloatVector v = FloatVector.fromArray(F, x, x0 + i);
            a00 = w0.fma(v, a00); a10 = w1.fma(v, a10); a20 = w2.fma(v, a20); a30 = w3.fma(v, a30);
            v = FloatVector.fromArray(F, x, x1 + i);
            a01 = w0.fma(v, a01); a11 = w1.fma(v, a11); a21 = w2.fma(v, a21); a31 = w3.fma(v, a31);
            v = FloatVector.fromArray(F, x, x2 + i);
            a02 = w0.fma(v, a02); a12 = w1.fma(v, a12); a22 = w2.fma(v, a22); a32 = w3.fma(v, a32);
            v = FloatVector.fromArray(F, x, x3 + i);
            a03 = w0.fma(v, a03); a13 = w1.fma(v, a13); a23 = w2.fma(v, a23); a33 = w3.fma(v, a33);
        }
        int o0 = t * rows + r0, o1 = o0 + rows, o2 = o1 + rows, o3 = o2 + rows;
        out[o0] = sum(a00, w, 0, x, x0, i, k); out[o0 + 1] = sum(a10, w, k, x, x0, i, k);
        out[o0 + 2] = sum(a20, w, 2 * k, x, x0, i, k); out[o0 + 3] = sum(a30, w, 3 * k, x, x0, i, k);
        out[o1] = sum(a01, w, 0, x, x1, i, k); out[o1 + 1] = sum(a11, w, k, x, x1, i, k);
        out[o1 + 2] = sum(a21, w, 2 * k, x, x1, i, k); out[o1 + 3] = sum(a31, w, 3 * k, x, x1, i, k);
        out[o2] = sum(a02, w, 0, x, x2, i, k); out[o2 + 1] = sum(a12, w, k, x, x2, i, k);
        out[o2 + 2] = sum(a22, w, 2 * k, x, x2, i, k); out[o2 + 3] = sum(a32, w, 3 * k, x, x2, i, k);
        out[o3] = sum(a03, w, 0, x, x3, i, k); out[o3 + 1] = sum(a13, w, k, x, x3, i, k);
        out[o3 + 2] = sum(a23, w, 2 * k, x, x3, i, k); out[o3 + 3] = sum(a33, w, 3 * k, x, x3, i, k);
        return readAhead;
    }

    private static void tile4x1(float[] w, int k, float[] x, int t, float[] out, int rows, int r0) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        int x0 = t * k;
        int upper = F.loopBound(k), i = 0;
        for (; i < upper; i += F.length()) {
            FloatVector v = FloatVector.fromArray(F, x, x0 + i);
            a0 = FloatVector.fromArray(F, w, i).fma(v, a0);
            a1 = FloatVector.fromArray(F, w, k + i).fma(v, a1);
            a2 = FloatVector.fromArray(F, w, 2 * k + i).fma(v, a2);
            a3 = FloatVector.fromArray(F, w, 3 * k + i).fma(v, a3);
        }
        int o = t * rows + r0;
        out[o] = sum(a0, w, 0, x, x0, i, k);
        out[o + 1] = sum(a1, w, k, x, x0, i, k);
        out[o + 2] = sum(a2, w, 2 * k, x, x0, i, k);
        out[o + 3] = sum(a3, w, 3 * k, x, x0, i, k);
    }

    /** The accumulator's lanes plus the scalar tail {@code [from, k)}. */
    private static float sum(FloatVector acc, float[] w, int wOff, float[] x, int xOff, int from, int k) {
        float s = acc.reduceLanes(VectorOperators.ADD);
        for (int i = from; i < k; i++) {
            s += w[wOff + i] * x[xOff + i];
        }
        return s;
    }
}
