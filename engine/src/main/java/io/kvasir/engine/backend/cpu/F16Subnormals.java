package io.kvasir.engine.backend.cpu;

import io.kvasir.engine.tensor.DType;
import io.kvasir.engine.tensor.WeightMatrix;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Arrays;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;

/**
 * The nonzero subnormal halves of an F16 matrix (exponent 0), row by row, with their exact values:
 * {@link F16Rows#dotPrescaled} leaves them out, so that its loop has no branch, and {@link #addTo}
 * adds them back. Why: a subnormal half read as a prescaled float is a subnormal float, which costs
 * the FMA a microcode assist; telling such vectors apart with a branch mispredicted on ~4% of
 * vectors and halved the rate at which a row dot streams weights (measured 33 against 17 GB/s).
 * In the seeded 1B F16 model: 0.23% of the halves (|w| < 2^-14), 2.4 M, 29 MB of heap.
 */
final class F16Subnormals {
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final int[] rowStart; // row r's entries are [rowStart[r], rowStart[r + 1])
    private final int[] rows, columns;
    private final float[] values;

    private F16Subnormals(int[] rowStart, int[] rows, int[] columns, float[] values) {
        this.rowStart = rowStart;
        this.rows = rows;
        this.columns = columns;
        this.values = values;
    }

    /** Scans the matrix once (vectors of halves; lanes only where one holds a subnormal). */
    static F16Subnormals of(WeightMatrix w) {
        if (w.dtype() != DType.F16) {
            throw new IllegalArgumentException(w.name() + ": subnormal halves of a " + w.dtype() + " matrix");
        }
        MemorySegment seg = w.data();
        int cols = w.cols(), step = Vectors.S.length(), upper = cols - cols % step;
        int[] rowStart = new int[w.rows() + 1];
        int[] rows = new int[64], columns = new int[64];
        float[] values = new float[64];
        int count = 0;
        for (int r = 0; r < w.rows(); r++) {
            long row = r * w.rowBytes();
            for (int c = 0; c < cols; c += step) {
                if (c < upper && !holdsSubnormal(seg, row + 2L * c)) continue;
                for (int j = c; j < Math.min(c + step, cols); j++) {
                    short half = seg.get(I16, row + 2L * j);
                    if ((half & 0x7C00) != 0 || (half & 0x03FF) == 0) continue;
                    if (count == columns.length) {
                        rows = Arrays.copyOf(rows, 2 * count);
                        columns = Arrays.copyOf(columns, 2 * count);
                        values = Arrays.copyOf(values, 2 * count);
                    }
                    rows[count] = r;
                    columns[count] = j;
                    values[count++] = Float.float16ToFloat(half);
                }
            }
            rowStart[r + 1] = count;
        }
        return new F16Subnormals(rowStart, Arrays.copyOf(rows, count), Arrays.copyOf(columns, count), Arrays.copyOf(values, count));
    }

    private static boolean holdsSubnormal(MemorySegment seg, long off) {
        ShortVector h = ShortVector.fromMemorySegment(Vectors.S, seg, off, ByteOrder.LITTLE_ENDIAN);
        return h.and((short) 0x7C00).compare(VectorOperators.EQ, 0)
                .and(h.and((short) 0x03FF).compare(VectorOperators.NE, 0)).anyTrue();
    }

    /**
     * {@code out[outOff + r] += Σ w·x} over the subnormal halves of rows {@code [from, to)}, x of
     * the rows' width at {@code xOff}. One loop over the range's entries, not one per row: a loop
     * per row of a few entries each mispredicts its exit once per row.
     */
    void addTo(int from, int to, float[] x, int xOff, float[] out, int outOff) {
        for (int i = rowStart[from], end = rowStart[to]; i < end; i++) {
            out[outOff + rows[i]] += values[i] * x[xOff + columns[i]];
        }
    }
}
