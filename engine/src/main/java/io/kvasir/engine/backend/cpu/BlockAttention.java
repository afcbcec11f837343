package io.kvasir.engine.backend.cpu;

import io.kvasir.engine.backend.AttentionTile;
import java.util.Arrays;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * {@link io.kvasir.engine.backend.Backend#attendBlock} on the Vector API, in three passes over one
 * KV block (which stays in L1 throughout):
 * <ol>
 *   <li>scores of 4 rows at a time: per key dimension one load of a vector of slots (keys are
 *       stored dimension-major) and 4 broadcast FMAs;</li>
 *   <li>per row: mask positions outside its range, raise its running max, turn scores into
 *       e^(s - max) in place, rescale its sum and output if the max moved;</li>
 *   <li>outputs of 4 rows at a time: per slot one load of a value vector and 4 broadcast FMAs.</li>
 * </ol>
 * Tails (fewer slots or dimensions than a vector) run scalar. The 4-row groups are written out as
 * locals, not arrays or loops over rows: C2 keeps vectors in registers only as locals.
 */
final class BlockAttention {
    private static final VectorSpecies<Float> F = Vectors.F;

    private BlockAttention() {
    }

    static void attend(AttentionTile tile, float[] block, int keys, int values, int valueStride, int blockSize,
                       int firstPosition, int numSlots) {
        float[] p = tile.scores(blockSize);
        scores(tile, block, keys, blockSize, numSlots, p);
        for (int r = 0; r < tile.numRows(); r++) {
            int lo = Math.max(tile.from[r] - firstPosition, 0), hi = Math.min(tile.to[r] - firstPosition, numSlots);
            softmaxStep(tile, r, p, r * blockSize, numSlots, lo, hi);
        }
        addValues(tile, p, blockSize, block, values, valueStride, numSlots);
    }

    private static void scores(AttentionTile tile, float[] block, int keys, int blockSize, int numSlots, float[] s) {
        int rows = tile.numRows(), hd = tile.headDim, r = 0;
        float[] q = tile.q;
        for (; r + 4 <= rows; r += 4) {
            int q0 = r * hd, q1 = q0 + hd, q2 = q1 + hd, q3 = q2 + hd;
            int slot = 0;
            for (; slot + F.length() <= numSlots; slot += F.length()) {
                FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
                for (int d = 0, k = keys + slot; d < hd; d++, k += blockSize) {
                    FloatVector kv = FloatVector.fromArray(F, block, k);
                    a0 = kv.fma(FloatVector.broadcast(F, q[q0 + d]), a0);
                    a1 = kv.fma(FloatVector.broadcast(F, q[q1 + d]), a1);
                    a2 = kv.fma(FloatVector.broadcast(F, q[q2 + d]), a2);
                    a3 = kv.fma(FloatVector.broadcast(F, q[q3 + d]), a3);
                }
                int o = r * blockSize + slot;
                a0.intoArray(s, o);
                a1.intoArray(s, o + blockSize);
                a2.intoArray(s, o + 2 * blockSize);
                a3.intoArray(s, o + 3 * blockSize);
            }
            for (int i = 0; i < 4; i++) {
                scalarScores(q, (r + i) * hd, hd, block, keys, blockSize, slot, numSlots, s, (r + i) * blockSize);
            }
        }
        for (; r < rows; r++) {
            int slot = 0;
            for (; slot + F.length() <= numSlots; slot += F.length()) {
                FloatVector a = FloatVector.zero(F);
                for (int d = 0, k = keys + slot; d < hd; d++, k += blockSize) {
                    a = FloatVector.fromArray(F, block, k).fma(FloatVector.broadcast(F, q[r * hd + d]), a);
                }
                a.intoArray(s, r * blockSize + slot);
            }
            scalarScores(q, r * hd, hd, block, keys, blockSize, slot, numSlots, s, r * blockSize);
        }
    }

    private static void scalarScores(float[] q, int qOff, int hd, float[] block, int keys, int blockSize,
                                     int fromSlot, int numSlots, float[] s, int sOff) {
        for (int slot = fromSlot; slot < numSlots; slot++) {
            float sum = 0;
            for (int d = 0; d < hd; d++) {
                sum += q[qOff + d] * block[keys + d * blockSize + slot];
            }
            s[sOff + slot] = sum;
        }
    }

    /** Row r's scores {@code s[off, off+numSlots)} become its weights e^(s - max); 0 outside {@code [lo, hi)}. */
    private static void softmaxStep(AttentionTile tile, int r, float[] s, int off, int numSlots, int lo, int hi) {
        if (lo >= hi) {
            Arrays.fill(s, off, off + numSlots, 0f);
            return;
        }
        Arrays.fill(s, off, off + lo, Float.NEGATIVE_INFINITY);
        Arrays.fill(s, off + hi, off + numSlots, Float.NEGATIVE_INFINITY);
        int upper = F.loopBound(numSlots), i = 0;
        float blockMax = Float.NEGATIVE_INFINITY;
        if (upper > 0) {
            FloatVector m = FloatVector.fromArray(F, s, off);
            for (i = F.length(); i < upper; i += F.length()) m = m.max(FloatVector.fromArray(F, s, off + i));
            blockMax = m.reduceLanes(VectorOperators.MAX);
        }
        for (; i < numSlots; i++) blockMax = Math.max(blockMax, s[off + i]);

        float oldMax = tile.max[r], newMax = Math.max(oldMax, blockMax);
        FloatVector sumV = FloatVector.zero(F);
        for (i = 0; i < upper; i += F.length()) {
            FloatVector e = FloatVector.fromArray(F, s, off + i).sub(newMax).lanewise(VectorOperators.EXP);
            e.intoArray(s, off + i);
            sumV = sumV.add(e);
        }
        float blockSum = sumV.reduceLanes(VectorOperators.ADD);
        for (; i < numSlots; i++) {
            s[off + i] = (float) Math.exp(s[off + i] - newMax);
            blockSum += s[off + i];
        }
        if (newMax != oldMax) {
            float correction = (float) Math.exp(oldMax - newMax); // 0 for the row's first block
            scaleRow(tile.out, r * tile.headDim, tile.headDim, correction);
            tile.sum[r] *= correction;
        }
        tile.sum[r] += blockSum;
        tile.max[r] = newMax;
    }

    private static void scaleRow(float[] x, int off, int n, float factor) {
        int i = 0;
        for (int upper = F.loopBound(n); i < upper; i += F.length()) {
            FloatVector.fromArray(F, x, off + i).mul(factor).intoArray(x, off + i);
        }
        for (; i < n; i++) x[off + i] *= factor;
    }

    private static void addValues(AttentionTile tile, float[] p, int blockSize, float[] block, int values,
                                  int valueStride, int numSlots) {
        int rows = tile.numRows(), hd = tile.headDim, r = 0, dUpper = F.loopBound(hd);
        float[] out = tile.out;
        for (; r + 4 <= rows; r += 4) {
            int p0 = r * blockSize, p1 = p0 + blockSize, p2 = p1 + blockSize, p3 = p2 + blockSize;
            for (int d = 0; d < dUpper; d += F.length()) {
                int o0 = r * hd + d, o1 = o0 + hd, o2 = o1 + hd, o3 = o2 + hd;
                FloatVector a0 = FloatVector.fromArray(F, out, o0), a1 = FloatVector.fromArray(F, out, o1);
                FloatVector a2 = FloatVector.fromArray(F, out, o2), a3 = FloatVector.fromArray(F, out, o3);
                for (int slot = 0, v = values + d; slot < numSlots; slot++, v += valueStride) {
                    FloatVector vv = FloatVector.fromArray(F, block, v);
                    a0 = vv.fma(FloatVector.broadcast(F, p[p0 + slot]), a0);
                    a1 = vv.fma(FloatVector.broadcast(F, p[p1 + slot]), a1);
                    a2 = vv.fma(FloatVector.broadcast(F, p[p2 + slot]), a2);
                    a3 = vv.fma(FloatVector.broadcast(F, p[p3 + slot]), a3);
                }
                a0.intoArray(out, o0);
                a1.intoArray(out, o1);
                a2.intoArray(out, o2);
                a3.intoArray(out, o3);
            }
        }
        for (; r < rows; r++) {
            for (int d = 0; d < dUpper; d += F.length()) {
                FloatVector a = FloatVector.fromArray(F, out, r * hd + d);
                for (int slot = 0, v = values + d; slot < numSlots; slot++, v += valueStride) {
                    a = FloatVector.fromArray(F, block, v).fma(FloatVector.broadcast(F, p[r * blockSize + slot]), a);
                }
                a.intoArray(out, r * hd + d);
            }
        }
        for (r = 0; r < rows && dUpper < hd; r++) {
            for (int slot = 0; slot < numSlots; slot++) {
                float w = p[r * blockSize + slot];
                for (int d = dUpper; d < hd; d++) {
                    out[r * hd + d] += w * block[values + slot * valueStride + d];
                }
            }
        }
    }
}
