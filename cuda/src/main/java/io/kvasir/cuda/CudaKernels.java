package io.kvasir.cuda;

import static jcuda.driver.JCudaDriver.cuLaunchKernel;
import static jcuda.driver.JCudaDriver.cuModuleGetFunction;

import java.util.HashMap;
import java.util.Map;

import jcuda.Pointer;
import jcuda.driver.CUfunction;

/**
 * Launches the kernels of {@code kvasir_kernels.cu} with the grid each expects (see the comment
 * above each kernel there). Asynchronous on the default stream: call
 * {@link CudaDevice#synchronize()} before reading results.
 */
public final class CudaKernels {
    /** Weight element types the GEMM/GEMV kernels read. */
    public enum WeightType { F32, F16, BF16 }

    private static final int GEMV_WARPS = 8;
    private static final int MAX_GEMV_TOKENS = 16;

    private final Map<String, CUfunction> functions = new HashMap<>();
    private final CudaDevice device;

    public CudaKernels(CudaDevice device) {
        this.device = device;
    }

    private CUfunction function(String name) {
        return functions.computeIfAbsent(name, n -> {
            CUfunction f = new CUfunction();
            cuModuleGetFunction(f, device.module(), n);
            return f;
        });
    }

    private void launch(String name, int gridX, int gridY, int block, Pointer... args) {
        cuLaunchKernel(function(name), gridX, gridY, 1, block, 1, 1, 0, null, Pointer.to(args), null);
    }

    private static Pointer p(DeviceBuffer b) {
        return Pointer.to(b.ptr);
    }

    private static Pointer i(int v) {
        return Pointer.to(new int[] {v});
    }

    private static Pointer l(long v) {
        return Pointer.to(new long[] {v});
    }

    private static Pointer f(float v) {
        return Pointer.to(new float[] {v});
    }

    /** {@code out[t] = x[t] / rms(x[t]) * w} for {@code tokens} rows of {@code dim}. */
    public void rmsNorm(DeviceBuffer x, DeviceBuffer w, DeviceBuffer out, int tokens, int dim, float eps) {
        launch("rmsnorm_f32", tokens, 1, 256, p(x), p(w), p(out), i(dim), f(eps));
    }

    /** Rotary embedding in place over {@code heads} heads of {@code headDim} per token. */
    public void rope(DeviceBuffer x, DeviceBuffer positions, DeviceBuffer invFreq, int tokens, int heads, int headDim,
            int ropeDims, boolean neox) {
        launch("rope_f32", tokens, heads, Math.max(32, ropeDims / 2), p(x), p(positions), p(invFreq), i(heads),
                i(headDim), i(ropeDims), i(neox ? 1 : 0));
    }

    /**
     * {@code out[t][r] = Σ_c w[r][c] x[t][c]}: the per-warp GEMV for decode-sized batches (weights
     * read once for all tokens), the tiled GEMM for prefill.
     */
    public void matmul(WeightType type, DeviceBuffer w, DeviceBuffer x, DeviceBuffer out, int rows, int cols, int tokens) {
        String suffix = switch (type) {
            case F32 -> "f32";
            case F16 -> "f16";
            case BF16 -> "bf16";
        };
        if (tokens <= MAX_GEMV_TOKENS) {
            launch("gemv_" + suffix, (rows + GEMV_WARPS - 1) / GEMV_WARPS, 1, 32 * GEMV_WARPS, p(w), p(x), p(out),
                    i(rows), i(cols), i(tokens));
        } else {
            launch("gemm_" + suffix, (rows + 63) / 64, (tokens + 63) / 64, 256, p(w), p(x), p(out), i(rows), i(cols),
                    i(tokens));
        }
    }

    /** {@code gate = silu(gate) * up} over {@code n} values. */
    public void swiGlu(DeviceBuffer gate, DeviceBuffer up, long n) {
        launch("swiglu_f32", (int) ((n + 255) / 256), 1, 256, p(gate), p(up), l(n));
    }

    /** {@code y += x} over {@code n} values. */
    public void add(DeviceBuffer y, DeviceBuffer x, long n) {
        launch("add_f32", (int) ((n + 255) / 256), 1, 256, p(y), p(x), l(n));
    }

    /** {@code y[t] += bias} for {@code tokens} rows of {@code bias}'s width. */
    public void addBias(DeviceBuffer y, DeviceBuffer bias, int tokens, int width) {
        long n = (long) tokens * width;
        launch("add_bias_f32", (int) ((n + 255) / 256), 1, 256, p(y), p(bias), l(tokens), i(width));
    }

    /** Rows of an f16 ({@code bf16} false) or bf16 embedding table for each token. */
    public void embed(DeviceBuffer table, boolean bf16, DeviceBuffer tokens, DeviceBuffer out, int count, int dim) {
        launch(bf16 ? "embed_bf16" : "embed_f16", count, 1, 256, p(table), p(tokens), p(out), i(dim));
    }

    /** The paged KV pool's geometry: {@code [block][layer][slot][kvHeads * headDim]}, f32 (the KV store's block layout). */
    public record KvGeometry(int layers, int kvHeads, int headDim, int blockSize, int maxBlocksPerSeq) {
    }

    /** Writes each token's K and V into its sequence's slot for {@code layer}. */
    public void writeKv(DeviceBuffer k, DeviceBuffer v, DeviceBuffer kPool, DeviceBuffer vPool, DeviceBuffer tables,
            DeviceBuffer seqOf, DeviceBuffer positions, int tokens, int layer, KvGeometry g) {
        launch("write_kv_f32", tokens, 1, g.kvHeads() * g.headDim(), p(k), p(v), p(kPool), p(vPool), p(tables),
                p(seqOf), p(positions), i(g.maxBlocksPerSeq()), i(layer), i(g.layers()), i(g.kvHeads()), i(g.headDim()),
                i(g.blockSize()));
    }

    /** Causal attention of each token's {@code heads} queries over its sequence's paged KV (online softmax). */
    public void attention(DeviceBuffer q, DeviceBuffer kPool, DeviceBuffer vPool, DeviceBuffer tables,
            DeviceBuffer seqOf, DeviceBuffer positions, DeviceBuffer out, int tokens, int heads, int layer,
            KvGeometry g, float scale) {
        if (g.headDim() > 256) {
            throw new IllegalArgumentException("head dim " + g.headDim() + " > 256, the attention kernel's limit");
        }
        launch("attention_decode_f32", tokens, heads, 128, p(q), p(kPool), p(vPool), p(tables), p(seqOf), p(positions),
                p(out), i(g.maxBlocksPerSeq()), i(layer), i(g.layers()), i(heads), i(g.kvHeads()), i(g.headDim()),
                i(g.blockSize()), f(scale));
    }
}
