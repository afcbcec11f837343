package io.kvasir.cuda;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Each kernel against a plain Java computation of the same thing, on random inputs: the checks the
 * GPU test runs and {@code GpuCheck} prints. A check returns the largest absolute difference; the
 * tolerance is the 1e-2 on logits-sized values, tighter where the arithmetic allows.
 */
public final class KernelChecks {
    /** One check's outcome. */
    public record Result(String name, double maxDiff, double tolerance) {
        public boolean passed() {
            return maxDiff <= tolerance;
        }
    }

    private final CudaDevice device;
    private final CudaKernels kernels;
    private final SplittableRandom random = new SplittableRandom(42);

    public KernelChecks(CudaDevice device) {
        this.device = device;
        this.kernels = new CudaKernels(device);
    }

    public List<Result> runAll() {
        List<Result> out = new ArrayList<>();
        out.add(rmsNorm());
        for (int tokens : new int[] {1, 8, 100}) {
            out.add(matmul(CudaKernels.WeightType.F32, tokens));
            out.add(matmul(CudaKernels.WeightType.F16, tokens));
            out.add(matmul(CudaKernels.WeightType.BF16, tokens));
        }
        out.add(swiGlu());
        out.add(attention());
        return out;
    }

    private float[] randoms(int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) (random.nextDouble() * 2 - 1);
        }
        return v;
    }

    private static double maxDiff(float[] a, float[] b) {
        double m = 0;
        for (int i = 0; i < a.length; i++) {
            m = Math.max(m, Math.abs(a[i] - b[i]));
        }
        return m;
    }

    Result rmsNorm() {
        int tokens = 5, dim = 2048;
        float[] x = randoms(tokens * dim), w = randoms(dim), expected = new float[x.length];
        for (int t = 0; t < tokens; t++) {
            double ss = 0;
            for (int i = 0; i < dim; i++) {
                ss += x[t * dim + i] * x[t * dim + i];
            }
            double scale = 1 / Math.sqrt(ss / dim + 1e-5);
            for (int i = 0; i < dim; i++) {
                expected[t * dim + i] = (float) (x[t * dim + i] * scale * w[i]);
            }
        }
        float[] got = new float[x.length];
        try (DeviceBuffer dx = DeviceBuffer.of(x); DeviceBuffer dw = DeviceBuffer.of(w);
                DeviceBuffer out = new DeviceBuffer(4L * x.length)) {
            kernels.rmsNorm(dx, dw, out, tokens, dim, 1e-5f);
            device.synchronize();
            out.copyTo(got);
        }
        return new Result("rmsnorm", maxDiff(expected, got), 1e-5);
    }

    Result matmul(CudaKernels.WeightType type, int tokens) {
        int rows = 768, cols = 2048;
        float[] w = randoms(rows * cols), x = randoms(tokens * cols);
        short[] half = new short[w.length];
        for (int i = 0; i < w.length; i++) {
            half[i] = type == CudaKernels.WeightType.BF16 ? (short) (Float.floatToRawIntBits(w[i]) >>> 16)
                    : Float.floatToFloat16(w[i]);
            w[i] = type == CudaKernels.WeightType.BF16 ? Float.intBitsToFloat((half[i] & 0xffff) << 16)
                    : type == CudaKernels.WeightType.F16 ? Float.float16ToFloat(half[i]) : w[i];
        }
        float[] expected = new float[tokens * rows];
        for (int t = 0; t < tokens; t++) {
            for (int r = 0; r < rows; r++) {
                double s = 0;
                for (int c = 0; c < cols; c++) {
                    s += (double) w[r * cols + c] * x[t * cols + c];
                }
                expected[t * rows + r] = (float) s;
            }
        }
        float[] got = new float[expected.length];
        try (DeviceBuffer dw = type == CudaKernels.WeightType.F32 ? DeviceBuffer.of(w) : DeviceBuffer.of(half);
                DeviceBuffer dx = DeviceBuffer.of(x); DeviceBuffer out = new DeviceBuffer(4L * expected.length)) {
            kernels.matmul(type, dw, dx, out, rows, cols, tokens);
            device.synchronize();
            out.copyTo(got);
        }
        return new Result("matmul " + type + " x" + tokens, maxDiff(expected, got), 1e-3);
    }

    Result swiGlu() {
        int n = 10_000;
        float[] gate = randoms(n), up = randoms(n), expected = new float[n];
        for (int i = 0; i < n; i++) {
            expected[i] = (float) (gate[i] / (1 + Math.exp(-gate[i])) * up[i]);
        }
        float[] got = new float[n];
        try (DeviceBuffer g = DeviceBuffer.of(gate); DeviceBuffer u = DeviceBuffer.of(up)) {
            kernels.swiGlu(g, u, n);
            device.synchronize();
            g.copyTo(got);
        }
        return new Result("swiglu", maxDiff(expected, got), 1e-5);
    }

    /** Two sequences over a paged pool (blocks out of order), GQA 8/2, causal, against plain softmax attention. */
    Result attention() {
        int layers = 2, layer = 1, heads = 8, kvHeads = 2, headDim = 64, blockSize = 16, maxBlocks = 8;
        int[] lens = {37, 100};
        int poolBlocks = 16;
        CudaKernels.KvGeometry g = new CudaKernels.KvGeometry(layers, kvHeads, headDim, blockSize, maxBlocks);
        int[] tables = new int[2 * maxBlocks];
        for (int b = 0; b < maxBlocks; b++) {
            tables[b] = 15 - b;          // sequence 0 from the top of the pool
            tables[maxBlocks + b] = b;   // sequence 1 from the bottom
        }
        float[] kPool = randoms(poolBlocks * layers * kvHeads * blockSize * headDim);
        float[] vPool = randoms(kPool.length);
        // one query token per sequence, at its last position
        int tokens = 2;
        float[] q = randoms(tokens * heads * headDim);
        int[] seqOf = {0, 1};
        int[] positions = {lens[0] - 1, lens[1] - 1};
        float scale = (float) (1 / Math.sqrt(headDim));
        float[] expected = new float[q.length];
        for (int t = 0; t < tokens; t++) {
            for (int h = 0; h < heads; h++) {
                int kvh = h / (heads / kvHeads);
                int len = positions[t] + 1;
                double[] scores = new double[len];
                double max = Double.NEGATIVE_INFINITY;
                for (int s = 0; s < len; s++) {
                    int block = tables[seqOf[t] * maxBlocks + s / blockSize];
                    long base = (((long) block * layers + layer) * blockSize + s % blockSize) * kvHeads * headDim
                            + (long) kvh * headDim;
                    double dot = 0;
                    for (int d = 0; d < headDim; d++) {
                        dot += q[(t * heads + h) * headDim + d] * scale * kPool[(int) base + d];
                    }
                    scores[s] = dot;
                    max = Math.max(max, dot);
                }
                double sum = 0;
                for (int s = 0; s < len; s++) {
                    scores[s] = Math.exp(scores[s] - max);
                    sum += scores[s];
                }
                for (int s = 0; s < len; s++) {
                    int block = tables[seqOf[t] * maxBlocks + s / blockSize];
                    long base = (((long) block * layers + layer) * blockSize + s % blockSize) * kvHeads * headDim
                            + (long) kvh * headDim;
                    for (int d = 0; d < headDim; d++) {
                        expected[(t * heads + h) * headDim + d] += (float) (scores[s] / sum * vPool[(int) base + d]);
                    }
                }
            }
        }
        float[] got = new float[q.length];
        try (DeviceBuffer dq = DeviceBuffer.of(q); DeviceBuffer dk = DeviceBuffer.of(kPool);
                DeviceBuffer dv = DeviceBuffer.of(vPool); DeviceBuffer dt = DeviceBuffer.of(tables);
                DeviceBuffer ds = DeviceBuffer.of(seqOf); DeviceBuffer dp = DeviceBuffer.of(positions);
                DeviceBuffer out = new DeviceBuffer(4L * q.length)) {
            kernels.attention(dq, dk, dv, dt, ds, dp, out, tokens, heads, layer, g, scale);
            device.synchronize();
            out.copyTo(got);
        }
        return new Result("paged attention (GQA 8/2, 37 and 100 tokens)", maxDiff(expected, got), 1e-5);
    }
}
