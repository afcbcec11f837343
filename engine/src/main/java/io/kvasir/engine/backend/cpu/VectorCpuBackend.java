package io.kvasir.engine.backend.cpu;

import io.kvasir.engine.backend.AttentionTile;
import io.kvasir.engine.backend.Backend;
import io.kvasir.engine.backend.reference.ReferenceBackend;
import io.kvasir.engine.tensor.DType;
import io.kvasir.engine.tensor.WeightMatrix;
import java.util.IdentityHashMap;
import java.util.Map;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * CPU backend on the Vector API using every core: matmuls split output rows across a
 * {@link WorkerPool}; each row is read once per call and dotted with every token of the batch,
 * so a prefill chunk or a decode batch streams the weights once.
 *
 * <p>The vector width is fixed per JVM by {@code -Dkvasir.cpu.vectorBits} (see {@link Vectors});
 * a backend built with {@link Path#SCALAR} runs the scalar kernels, which the tests hold the
 * vector ones against.
 */
public final class VectorCpuBackend implements Backend {
    private final WorkerPool pool;
    private final RowKernels kernels;
    /** The scalar oracle, for the scalar path and the tails of vector loops. */
    private static final ReferenceBackend REFERENCE = new ReferenceBackend();
    private final MatmulTask matmulTask = new MatmulTask();
    private final Q8_0TileTask q8_0TileTask = new Q8_0TileTask();
    private final F16TileTask f16TileTask = new F16TileTask();
    private final TiledTask tiledTask;
    /** From this many tokens on, widening a row once and sharing it beats widening it per token. */
    private static final int TILED_MIN_TOKENS = 2;
    /**
     * From this many tokens on, vectors across tokens ({@link TokenVectorGemm}) beat vectors along k:
     * a whole vector of tokens (a fifth faster prefill on a 1B Q8_0 model); a decode batch of 8 would
     * fill token vectors half and run slower, so it keeps the k-vector tile.
     */
    private static final int TOKEN_VECTOR_MIN_TOKENS = TokenVectorGemm.LANES;
    private final TokenVectorTask tokenVectorTask;
    private float[] transposed = new float[0];
    /** Gate's and up's transposed outputs in {@link #feedForward}. */
    private float[] gateT = new float[0], upT = new float[0];

    /** Which kernels run: the Vector API ones (unless the JVM turned them off) or the scalar ones. */
    public enum Path { VECTOR, SCALAR }

    public VectorCpuBackend(int numThreads) {
        this(numThreads, Path.VECTOR);
    }

    public VectorCpuBackend(int numThreads, Path path) {
        this.pool = new WorkerPool(numThreads);
        this.kernels = new RowKernels(path == Path.VECTOR && Vectors.ENABLED);
        this.tiledTask = new TiledTask();
        this.tokenVectorTask = new TokenVectorTask();
    }

    public static int defaultThreads() {
        return Runtime.getRuntime().availableProcessors();
    }

    /** Float vector width the kernels run at; 0 on the scalar path. */
    public int vectorBits() {
        return kernels.vector() ? Vectors.BITS : 0;
    }

    @Override
    public void matmul(WeightMatrix w, float[] x, float[] out, int numTokens) {
        boolean severalTokens = kernels.vector() && numTokens >= TILED_MIN_TOKENS;
        if (tokenVectors(w, numTokens)) {
            tokenVectorTask.run(w, transposed(x, numTokens, w.cols()), out, false, numTokens);
        } else if (severalTokens && w.dtype() == DType.Q8_0 && Q8_0TokenTile.supported() && w.rows() % 2 == 0) {
            q8_0TileTask.run(w, x, out, numTokens, w.rows() / 2);
        } else if (severalTokens && w.dtype() == DType.F16 && F16TokenTile.supported() && w.rows() % 2 == 0
                && prescale(x, numTokens * w.cols())) {
            f16TileTask.subnormals = subnormals.computeIfAbsent(w, F16Subnormals::of);
            f16TileTask.run(w, x, out, numTokens, w.rows() / 2);
        } else if (severalTokens && w.rows() % TiledGemm.ROWS == 0) {
            tiledTask.run(w, x, out, numTokens, w.rows() / TiledGemm.ROWS);
        } else {
            // F16 row dots widen halves in 3 ops instead of 11 by moving the exponent re-bias into x
            // (F16Rows.dotPrescaled): about 8% faster batch-1 decode of a 1B F16 model
            matmulTask.prescaledF16 = kernels.vector() && w.dtype() == DType.F16 && prescale(x, numTokens * w.cols());
            matmulTask.subnormals = matmulTask.prescaledF16 ? subnormals.computeIfAbsent(w, F16Subnormals::of) : null;
            matmulTask.q4kSums = kernels.vector() && w.dtype() == DType.Q4_K && LowBitRows.inRegisters(DType.Q4_K)
                    ? subBlockSums(x, numTokens, w.cols()) : null;
            matmulTask.run(w, x, out, numTokens, w.rows());
        }
    }

    /** {@code buffer} if it holds {@code size} floats, else a new one that does (scratch grows, never shrinks). */
    private static float[] atLeast(float[] buffer, int size) {
        return buffer.length < size ? new float[size] : buffer;
    }

    private boolean tokenVectors(WeightMatrix w, int numTokens) {
        return kernels.vector() && numTokens >= TOKEN_VECTOR_MIN_TOKENS && w.rows() % TokenVectorGemm.ROWS == 0;
    }

    /** {@code x} ({@code [numTokens][cols]}) transposed into the reused scratch {@link #transposed}. */
    private float[] transposed(float[] x, int numTokens, int cols) {
        transposed = atLeast(transposed, cols * TokenVectorGemm.paddedTokens(numTokens));
        TokenVectorGemm.transpose(x, numTokens, cols, transposed);
        return transposed;
    }

    /**
     * On the token-vector path, gate and up write their outputs transposed (hidden rows × padded
     * tokens, whole vectors), SwiGLU runs on that layout, and down reads it as its transposed input:
     * no scattered stores for the two widest matmuls, one transpose of x instead of three. Padding
     * lanes stay zero through SwiGLU (silu(0)·0), as down's input needs.
     */
    @Override
    public void feedForward(WeightMatrix gate, WeightMatrix up, WeightMatrix down, float[] x, float[] hGate,
                            float[] hUp, float[] out, int numTokens) {
        int hidden = gate.rows();
        if (!tokenVectors(gate, numTokens) || !tokenVectors(down, numTokens)
                || up.rows() != hidden || down.cols() != hidden || up.cols() != gate.cols()) {
            Backend.super.feedForward(gate, up, down, x, hGate, hUp, out, numTokens);
            return;
        }
        int size = hidden * TokenVectorGemm.paddedTokens(numTokens);
        gateT = atLeast(gateT, size);
        upT = atLeast(upT, size);
        float[] xT = transposed(x, numTokens, gate.cols());
        tokenVectorTask.run(gate, xT, gateT, true, numTokens);
        tokenVectorTask.run(up, xT, upT, true, numTokens);
        swiGlu(gateT, upT, size);
        tokenVectorTask.run(down, gateT, out, false, numTokens);
    }

    /**
     * The operands of the matmul in progress, held by a reusable task object so a matmul
     * allocates nothing (the backend runs one call at a time).
     */
    private abstract class MatmulCall implements RangeBody {
        WeightMatrix w;
        float[] x, out;
        int numTokens;

        final void run(WeightMatrix w, float[] x, float[] out, int numTokens, int numItems) {
            this.w = w;
            this.x = x;
            this.out = out;
            this.numTokens = numTokens;
            pool.parallelFor(numItems, this);
            this.w = null;
            this.x = this.out = null;
        }
    }

    /**
     * Several tokens: widen a panel of {@code panelRows} rows to F32 once, then run a register-tiled
     * kernel ({@link #multiply}) over every token. Each worker owns a panel buffer (grown, never shrunk).
     */
    private abstract class PanelTask extends MatmulCall {
        final float[][] panels = new float[pool.numThreads()][0];
        private final int panelRows;

        PanelTask(int panelRows) {
            this.panelRows = panelRows;
        }

        /** {@code [nextFrom, nextTo)}: the next panel's bytes in {@code w.data()}, empty after a range's last. */
        abstract void multiply(float[] panel, int k, int rows, int r0, int chunk, long nextFrom, long nextTo);

        @Override
        public void run(int chunk, int from, int to) {
            int k = w.cols(), rows = w.rows();
            float[] panel = panels[chunk] = atLeast(panels[chunk], panelRows * k);
            for (int p = from; p < to; p++) {
                int r0 = p * panelRows;
                for (int j = 0; j < panelRows; j++) {
                    kernels.dequantize(w, (r0 + j) * w.rowBytes(), panel, j * k);
                }
                long next = (r0 + panelRows) * w.rowBytes();
                multiply(panel, k, rows, r0, chunk, next, p + 1 < to ? next + panelRows * w.rowBytes() : next);
            }
        }
    }

    /** A few tokens: vectors along k ({@link TiledGemm}). */
    private final class TiledTask extends PanelTask {
        TiledTask() {
            super(TiledGemm.ROWS);
        }

        /**
         * Per worker (a cache line apart): the bytes TiledGemm read ahead, kept so the JIT cannot
         * drop those reads.
         */
        final int[] readAhead = new int[pool.numThreads() * 16];

        @Override
        void multiply(float[] panel, int k, int rows, int r0, int chunk, long nextFrom, long nextTo) {
            readAhead[chunk * 16] += TiledGemm.multiply(panel, k, x, numTokens, out, rows, r0, w.data(), nextFrom, nextTo);
        }
    }

    /** A few tokens, Q8_0 on 512-bit vectors: pairs of rows widened in registers ({@link Q8_0TokenTile}). */
    private final class Q8_0TileTask extends MatmulCall {
        @Override
        public void run(int chunk, int from, int to) {
            for (int pair = from; pair < to; pair++) {
                Q8_0TokenTile.multiply(w.data(), 2L * pair * w.rowBytes(), w.rowBytes(), x, w.cols(), numTokens, out, w.rows(), 2 * pair);
            }
        }
    }

    /**
     * A few tokens, F16 on 512-bit vectors, x prescaled into {@link #scaledX}: pairs of rows widened
     * in registers ({@link F16TokenTile}), then the range's subnormal halves added for every token.
     */
    private final class F16TileTask extends MatmulCall {
        F16Subnormals subnormals;

        @Override
        public void run(int chunk, int from, int to) {
            int cols = w.cols(), rows = w.rows();
            for (int pair = from; pair < to; pair++) {
                F16TokenTile.multiply(w.data(), 2L * pair * w.rowBytes(), w.rowBytes(), x, scaledX, cols, numTokens, out, rows, 2 * pair);
            }
            for (int t = 0; t < numTokens; t++) {
                subnormals.addTo(2 * from, 2 * to, x, t * cols, out, t * rows);
            }
        }
    }

    /** Many tokens: vectors across tokens, {@code x} transposed ({@link TokenVectorGemm}). */
    private final class TokenVectorTask extends PanelTask {
        final float[][] lanes = new float[pool.numThreads()][TokenVectorGemm.LANES];
        boolean transposedOut;

        TokenVectorTask() {
            super(TokenVectorGemm.ROWS);
        }

        /** {@code xT} transposed input; {@code out} transposed too if {@code transposedOut}. */
        void run(WeightMatrix w, float[] xT, float[] out, boolean transposedOut, int numTokens) {
            this.transposedOut = transposedOut;
            run(w, xT, out, numTokens, w.rows() / TokenVectorGemm.ROWS);
        }

        @Override
        void multiply(float[] panel, int k, int rows, int r0, int chunk, long nextFrom, long nextTo) {
            TokenVectorGemm.multiply(panel, k, x, numTokens, out, transposedOut, rows, r0, lanes[chunk]);
        }
    }

    /**
     * Per F16 matrix met on the prescaled path, its subnormal halves: found on first use (one
     * pass over the matrix), kept as long as this backend. Keyed by identity, not by the record's
     * equality: a model loaded after another one was unmapped may get the same addresses, names
     * and shapes, and must not inherit its lists. Models hold their matrices for their lifetime.
     */
    private final Map<WeightMatrix, F16Subnormals> subnormals = new IdentityHashMap<>();

    /** {@code x·2^112}, for {@link F16Rows#dotPrescaled}. */
    private float[] scaledX = new float[0];

    /** x·2^112 into {@link #scaledX}; false if some |x| is too large (or NaN) for that to stay finite. */
    private boolean prescale(float[] x, int n) {
        scaledX = atLeast(scaledX, n);
        VectorSpecies<Float> sp = Vectors.F;
        FloatVector max = FloatVector.zero(sp);
        int i = 0;
        for (int upper = sp.loopBound(n); i < upper; i += sp.length()) {
            FloatVector v = FloatVector.fromArray(sp, x, i);
            max = max.max(v.abs());
            v.mul(F16Rows.PRESCALE).intoArray(scaledX, i);
        }
        float m = max.reduceLanes(VectorOperators.MAX);
        for (; i < n; i++) {
            m = Math.max(m, Math.abs(x[i]));
            scaledX[i] = x[i] * F16Rows.PRESCALE;
        }
        return m < F16Rows.PRESCALE_LIMIT; // NaN fails too
    }

    /**
     * From this width on, one token's row dots go 4 rows at a time ({@link Q8_0Rows#dot4},
     * {@link F16Rows#dotPrescaled4}), sharing each x load: a 32 KB x no longer stays in L1 beside
     * the weight stream. From DRAM at k = 8192 that streams weights about 1.6× faster; at k = 2048,
     * where x fits in L1 anyway, four streams per core are slower, hence the bound.
     */
    private static final int ROW_GROUP_MIN_COLS = 4096;

    private float[] subBlockSums = new float[0];

    /** Every token's {@link LowBitDots#subBlockSums}, token t's from {@code t * cols / 32}, in a reused scratch. */
    private float[] subBlockSums(float[] x, int numTokens, int cols) {
        subBlockSums = atLeast(subBlockSums, numTokens * (cols / 32));
        for (int t = 0; t < numTokens; t++) {
            LowBitDots.subBlockSums(x, t * cols, cols, subBlockSums, t * (cols / 32));
        }
        return subBlockSums;
    }

    /** Few tokens: dot each row straight from the mapped file with every token. */
    private final class MatmulTask extends MatmulCall {
        /** Q4_K weights: x's sums per 32 for {@link LowBitDots#q4_k}, else null. */
        float[] q4kSums;
        /** F16 weights and {@link #scaledX} holds x·2^112: use {@link F16Rows#dotPrescaled}. */
        boolean prescaledF16;
        /** With {@link #prescaledF16}: the weights' subnormal halves, which that dot leaves out. */
        F16Subnormals subnormals;

        @Override
        public void run(int chunk, int from, int to) {
            int rows = w.rows(), cols = w.cols();
            int r = from;
            if (numTokens == 1 && w.dtype() == DType.Q8_0 && cols >= ROW_GROUP_MIN_COLS && Vectors.F.length() == 16 && kernels.vector()) {
                for (; r + 4 <= to; r += 4) {
                    Q8_0Rows.dot4(w.data(), r * w.rowBytes(), w.rowBytes(), x, cols, out, r);
                }
            } else if (numTokens == 1 && prescaledF16 && cols >= ROW_GROUP_MIN_COLS) {
                for (; r + 4 <= to; r += 4) {
                    F16Rows.dotPrescaled4(w.data(), r * w.rowBytes(), w.rowBytes(), x, scaledX, cols, out, r);
                }
            }
            for (; r < to; r++) {
                long rowOffset = r * w.rowBytes();
                for (int t = 0; t < numTokens; t++) {
                    out[t * rows + r] = prescaledF16
                            ? F16Rows.dotPrescaled(w.data(), rowOffset, x, scaledX, t * cols, cols)
                            : q4kSums != null ? LowBitDots.q4_k(w.data(), rowOffset, x, t * cols, q4kSums, t * (cols / 32), cols)
                            : kernels.dot(w, rowOffset, x, t * cols);
                }
            }
            if (prescaledF16) {
                for (int t = 0; t < numTokens; t++) {
                    subnormals.addTo(from, to, x, t * cols, out, t * rows);
                }
            }
        }
    }

    @Override
    public void dequantizeRow(WeightMatrix w, int row, float[] out, int offset) {
        kernels.dequantize(w, row * w.rowBytes(), out, offset);
    }

    @Override
    public float dot(float[] a, int aOff, float[] b, int bOff, int n) {
        VectorSpecies<Float> sp = Vectors.F;
        if (!kernels.vector()) {
            return REFERENCE.dot(a, aOff, b, bOff, n);
        }
        FloatVector acc = FloatVector.zero(sp);
        int i = 0;
        for (int upper = sp.loopBound(n); i < upper; i += sp.length()) {
            acc = FloatVector.fromArray(sp, a, aOff + i).fma(FloatVector.fromArray(sp, b, bOff + i), acc);
        }
        float s = acc.reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) s += a[aOff + i] * b[bOff + i];
        return s;
    }

    @Override
    public void axpy(float alpha, float[] x, int xOff, float[] y, int yOff, int n) {
        VectorSpecies<Float> sp = Vectors.F;
        int i = 0;
        if (kernels.vector()) {
            FloatVector a = FloatVector.broadcast(sp, alpha);
            for (int upper = sp.loopBound(n); i < upper; i += sp.length()) {
                FloatVector.fromArray(sp, x, xOff + i).fma(a, FloatVector.fromArray(sp, y, yOff + i)).intoArray(y, yOff + i);
            }
        }
        for (; i < n; i++) y[yOff + i] += alpha * x[xOff + i];
    }

    @Override
    public void addWeightedRows(float[] weights, int wOff, float[] values, int vOff, int rowStride, int numRows,
                                float[] out, int outOff, int width) {
        VectorSpecies<Float> sp = Vectors.F;
        int d = 0;
        if (kernels.vector()) {
            // one output vector at a time stays in a register while every row is added into it
            for (; d + sp.length() <= width; d += sp.length()) {
                FloatVector acc = FloatVector.fromArray(sp, out, outOff + d);
                for (int r = 0; r < numRows; r++) {
                    acc = FloatVector.fromArray(sp, values, vOff + r * rowStride + d)
                            .fma(FloatVector.broadcast(sp, weights[wOff + r]), acc);
                }
                acc.intoArray(out, outOff + d);
            }
        }
        if (d < width) {
            REFERENCE.addWeightedRows(weights, wOff, values, vOff + d, rowStride, numRows, out, outOff + d, width - d);
        }
    }

    @Override
    public void attendBlock(AttentionTile tile, float[] block, int keys, int values, int valueStride, int blockSize,
                            int firstPosition, int numSlots) {
        if (kernels.vector()) {
            BlockAttention.attend(tile, block, keys, values, valueStride, blockSize, firstPosition, numSlots);
        } else {
            REFERENCE.attendBlock(tile, block, keys, values, valueStride, blockSize, firstPosition, numSlots);
        }
    }

    @Override
    public void softmax(float[] x, int n) {
        if (!kernels.vector()) {
            REFERENCE.softmax(x, n);
            return;
        }
        VectorSpecies<Float> sp = Vectors.F;
        int upper = sp.loopBound(n), i = 0;
        FloatVector maxV = FloatVector.broadcast(sp, Float.NEGATIVE_INFINITY);
        for (; i < upper; i += sp.length()) maxV = maxV.max(FloatVector.fromArray(sp, x, i));
        float max = maxV.reduceLanes(VectorOperators.MAX);
        for (; i < n; i++) max = Math.max(max, x[i]);
        FloatVector sumV = FloatVector.zero(sp);
        for (i = 0; i < upper; i += sp.length()) {
            FloatVector e = FloatVector.fromArray(sp, x, i).sub(max).lanewise(VectorOperators.EXP);
            e.intoArray(x, i);
            sumV = sumV.add(e);
        }
        double sum = sumV.reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) {
            x[i] = (float) Math.exp(x[i] - max);
            sum += x[i];
        }
        float inv = (float) (1.0 / sum);
        for (i = 0; i < upper; i += sp.length()) FloatVector.fromArray(sp, x, i).mul(inv).intoArray(x, i);
        for (; i < n; i++) x[i] *= inv;
    }

    @Override
    public void swiGlu(float[] gate, float[] up, int n) {
        int i = 0;
        if (kernels.vector()) {
            VectorSpecies<Float> sp = Vectors.F;
            for (int upper = sp.loopBound(n); i < upper; i += sp.length()) {
                FloatVector g = FloatVector.fromArray(sp, gate, i);
                FloatVector sigmoidInv = g.neg().lanewise(VectorOperators.EXP).add(1f);
                g.div(sigmoidInv).mul(FloatVector.fromArray(sp, up, i)).intoArray(gate, i);
            }
        }
        for (; i < n; i++) {
            float g = gate[i];
            gate[i] = g / (1f + (float) Math.exp(-g)) * up[i];
        }
    }

    @Override
    public void parallelFor(int count, RangeBody body) {
        pool.parallelFor(count, body);
    }

    @Override
    public int numThreads() {
        return pool.numThreads();
    }

    @Override
    public void close() {
        pool.close();
    }
}
