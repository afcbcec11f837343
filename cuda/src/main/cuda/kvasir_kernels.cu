// Kvasir's CUDA kernels: the forward pass of a Llama-family model on device, f32 activations,
// f16/bf16 weights read with f32 accumulation. Compiled at build time by nvcc into a fatbin
// (sm_90a code + compute_90 PTX, so newer GPUs JIT it), shipped as a resource and loaded with the
// CUDA driver API (cuModuleLoadData): no CUDA runtime is needed where Kvasir runs.
//
// Layouts (row-major unless said):
//   activations  x[token][dim]                  f32
//   weights      w[row][col]                    f16 or bf16 (GGUF/HF order: out-features x in-features)
//   KV pool      k/v[block][layer][slot][kvHeads * headDim]  f32: a block's K (and V) is exactly the KV
//                store's column for it (token-major per layer), so blocks move between store, host and
//                device as they are, without a transpose
//   block table  tables[seq][maxBlocksPerSeq]   int, pool block ids of a sequence, in order
#include <cuda_fp16.h>
#include <cuda_bf16.h>
#include <math_constants.h>

#define WARP 32

__device__ __forceinline__ float warp_sum(float v) {
    for (int o = WARP / 2; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ float warp_max(float v) {
    for (int o = WARP / 2; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// Sum over the block (blockDim.x a multiple of 32, at most 1024); every thread gets the total.
__device__ float block_sum(float v) {
    __shared__ float partial[WARP];
    int lane = threadIdx.x % WARP, warp = threadIdx.x / WARP;
    v = warp_sum(v);
    __syncthreads();
    if (lane == 0) partial[warp] = v;
    __syncthreads();
    float total = threadIdx.x < blockDim.x / WARP ? partial[lane] : 0.f;
    if (warp == 0) total = warp_sum(total);
    if (threadIdx.x == 0) partial[0] = total;
    __syncthreads();
    return partial[0];
}

__device__ __forceinline__ float load(const __half* p, long i) { return __half2float(p[i]); }
__device__ __forceinline__ float load(const __nv_bfloat16* p, long i) { return __bfloat162float(p[i]); }
__device__ __forceinline__ float load(const float* p, long i) { return p[i]; }

// out[t][i] = x[t][i] / rms(x[t]) * w[i]; grid = tokens, block = 256..1024 threads.
extern "C" __global__ void rmsnorm_f32(const float* __restrict__ x, const float* __restrict__ w, float* __restrict__ out,
                            int dim, float eps) {
    const float* row = x + (long) blockIdx.x * dim;
    float ss = 0.f;
    for (int i = threadIdx.x; i < dim; i += blockDim.x) ss += row[i] * row[i];
    float scale = rsqrtf(block_sum(ss) / dim + eps);
    float* o = out + (long) blockIdx.x * dim;
    for (int i = threadIdx.x; i < dim; i += blockDim.x) o[i] = row[i] * scale * w[i];
}

// Rotates pairs of every head of x[token][heads * headDim] by position * invFreq[pair].
// neox: pairs (i, i + ropeDims/2) as in GPT-NeoX/Qwen2; else adjacent (2i, 2i+1) as in Llama GGUF.
// grid = (tokens, heads), block = ropeDims / 2 threads (one per pair).
extern "C" __global__ void rope_f32(float* __restrict__ x, const int* __restrict__ positions, const float* __restrict__ invFreq,
                         int heads, int headDim, int ropeDims, int neox) {
    int pair = threadIdx.x;
    if (pair >= ropeDims / 2) return;
    float* h = x + ((long) blockIdx.x * heads + blockIdx.y) * headDim;
    float angle = positions[blockIdx.x] * invFreq[pair];
    float c, s;
    sincosf(angle, &s, &c);
    int a = neox ? pair : 2 * pair, b = neox ? pair + ropeDims / 2 : 2 * pair + 1;
    float x0 = h[a], x1 = h[b];
    h[a] = x0 * c - x1 * s;
    h[b] = x0 * s + x1 * c;
}

// out[t][r] = sum_c w[r][c] * x[t][c]: one warp per output row, every token of the (small) batch
// at once, so each weight is read from memory once per step whatever the batch (decode is bound
// by weight bandwidth). grid = ceil(rows / warpsPerBlock), block = 32 * warpsPerBlock; tokens <= 16.
template <typename W>
__device__ void gemv_rows(const W* __restrict__ w, const float* __restrict__ x, float* __restrict__ out,
                          int rows, int cols, int tokens) {
    int row = blockIdx.x * (blockDim.x / WARP) + threadIdx.x / WARP;
    int lane = threadIdx.x % WARP;
    if (row >= rows) return;
    float acc[16];
    for (int t = 0; t < 16; t++) acc[t] = 0.f;
    const W* wr = w + (long) row * cols;
    for (int c = lane; c < cols; c += WARP) {
        float wv = load(wr, c);
        for (int t = 0; t < tokens; t++) acc[t] += wv * x[(long) t * cols + c];
    }
    for (int t = 0; t < tokens; t++) {
        float v = warp_sum(acc[t]);
        if (lane == 0) out[(long) t * rows + row] = v;
    }
}

extern "C" __global__ void gemv_f16(const __half* w, const float* x, float* out, int rows, int cols, int tokens) {
    gemv_rows(w, x, out, rows, cols, tokens);
}

extern "C" __global__ void gemv_bf16(const __nv_bfloat16* w, const float* x, float* out, int rows, int cols, int tokens) {
    gemv_rows(w, x, out, rows, cols, tokens);
}

extern "C" __global__ void gemv_f32(const float* w, const float* x, float* out, int rows, int cols, int tokens) {
    gemv_rows(w, x, out, rows, cols, tokens);
}

// Prefill: out[t][r] = sum_c w[r][c] * x[t][c] for many tokens, 64x64 output tiles staged through
// shared memory 16 columns at a time, f32 accumulation. grid = (ceil(rows/64), ceil(tokens/64)),
// block = 256 threads, each computing a 4x4 patch.
#define TILE 64
#define KSTEP 16
template <typename W>
__device__ void gemm_tiles(const W* __restrict__ w, const float* __restrict__ x, float* __restrict__ out,
                           int rows, int cols, int tokens) {
    __shared__ float ws[KSTEP][TILE + 1];
    __shared__ float xs[KSTEP][TILE + 1];
    int r0 = blockIdx.x * TILE, t0 = blockIdx.y * TILE;
    int tr = (threadIdx.x % 16) * 4, tt = (threadIdx.x / 16) * 4;
    float acc[4][4] = {};
    for (int k0 = 0; k0 < cols; k0 += KSTEP) {
        for (int i = threadIdx.x; i < TILE * KSTEP; i += blockDim.x) {
            int rr = i / KSTEP, kk = i % KSTEP;
            int r = r0 + rr, t = t0 + rr, k = k0 + kk;
            ws[kk][rr] = r < rows && k < cols ? load(w, (long) r * cols + k) : 0.f;
            xs[kk][rr] = t < tokens && k < cols ? x[(long) t * cols + k] : 0.f;
        }
        __syncthreads();
        for (int kk = 0; kk < KSTEP; kk++) {
            for (int a = 0; a < 4; a++) {
                for (int b = 0; b < 4; b++) acc[a][b] += ws[kk][tr + a] * xs[kk][tt + b];
            }
        }
        __syncthreads();
    }
    for (int a = 0; a < 4; a++) {
        for (int b = 0; b < 4; b++) {
            int r = r0 + tr + a, t = t0 + tt + b;
            if (r < rows && t < tokens) out[(long) t * rows + r] = acc[a][b];
        }
    }
}

extern "C" __global__ void gemm_f16(const __half* w, const float* x, float* out, int rows, int cols, int tokens) {
    gemm_tiles(w, x, out, rows, cols, tokens);
}

extern "C" __global__ void gemm_bf16(const __nv_bfloat16* w, const float* x, float* out, int rows, int cols, int tokens) {
    gemm_tiles(w, x, out, rows, cols, tokens);
}

extern "C" __global__ void gemm_f32(const float* w, const float* x, float* out, int rows, int cols, int tokens) {
    gemm_tiles(w, x, out, rows, cols, tokens);
}

// out[t][i] = table[tokens[t]][i]; grid = tokens, block = 256.
extern "C" __global__ void embed_f16(const __half* __restrict__ table, const int* __restrict__ tokens, float* __restrict__ out,
                          int dim) {
    const __half* row = table + (long) tokens[blockIdx.x] * dim;
    for (int i = threadIdx.x; i < dim; i += blockDim.x) out[(long) blockIdx.x * dim + i] = __half2float(row[i]);
}

extern "C" __global__ void embed_bf16(const __nv_bfloat16* __restrict__ table, const int* __restrict__ tokens,
                           float* __restrict__ out, int dim) {
    const __nv_bfloat16* row = table + (long) tokens[blockIdx.x] * dim;
    for (int i = threadIdx.x; i < dim; i += blockDim.x) out[(long) blockIdx.x * dim + i] = __bfloat162float(row[i]);
}

// gate[i] = silu(gate[i]) * up[i]
extern "C" __global__ void swiglu_f32(float* __restrict__ gate, const float* __restrict__ up, long n) {
    long i = (long) blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) {
        float g = gate[i];
        gate[i] = g / (1.f + __expf(-g)) * up[i];
    }
}

// y[i] += x[i]
extern "C" __global__ void add_f32(float* __restrict__ y, const float* __restrict__ x, long n) {
    long i = (long) blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) y[i] += x[i];
}

// Writes token t's K and V (k/v[t][kvHeads * headDim]) into its slot: pool block
// tables[seqOf[t]][pos / blockSize], slot pos % blockSize. grid = tokens, block = kvHeads * headDim (<= 1024).
extern "C" __global__ void write_kv_f32(const float* __restrict__ k, const float* __restrict__ v, float* __restrict__ kPool,
                             float* __restrict__ vPool, const int* __restrict__ tables, const int* __restrict__ seqOf,
                             const int* __restrict__ positions, int maxBlocksPerSeq, int layer, int layers,
                             int kvHeads, int headDim, int blockSize) {
    int t = blockIdx.x, i = threadIdx.x;
    int width = kvHeads * headDim;
    if (i >= width) return;
    int pos = positions[t];
    int block = tables[seqOf[t] * maxBlocksPerSeq + pos / blockSize];
    long at = (((long) block * layers + layer) * blockSize + pos % blockSize) * width + i;
    kPool[at] = k[(long) t * width + i];
    vPool[at] = v[(long) t * width + i];
}

// Decode attention over paged KV, flash-decoding style: one block of threads per (token, head),
// one warp per KV block of the sequence in turn, online softmax (running max and sum), so no
// score matrix is ever stored. Causal: token t sees positions <= positions[t].
// q/out [t][heads * headDim]; grid = (tokens, heads), block = 128 threads (4 warps); headDim <= 256.
extern "C" __global__ void attention_decode_f32(const float* __restrict__ q, const float* __restrict__ kPool,
                                     const float* __restrict__ vPool, const int* __restrict__ tables,
                                     const int* __restrict__ seqOf, const int* __restrict__ positions,
                                     float* __restrict__ out, int maxBlocksPerSeq, int layer, int layers, int heads,
                                     int kvHeads, int headDim, int blockSize, float scale) {
    const int WARPS = 4;
    __shared__ float qs[256];
    __shared__ float warpMax[WARPS], warpSum[WARPS];
    __shared__ float warpOut[WARPS][256];
    int t = blockIdx.x, h = blockIdx.y, kvh = h / (heads / kvHeads);
    int lane = threadIdx.x % WARP, warp = threadIdx.x / WARP;
    const float* qh = q + ((long) t * heads + h) * headDim;
    for (int d = threadIdx.x; d < headDim; d += blockDim.x) qs[d] = qh[d] * scale;
    __syncthreads();
    int len = positions[t] + 1;
    int numBlocks = (len + blockSize - 1) / blockSize;
    const int* table = tables + seqOf[t] * maxBlocksPerSeq;
    float m = -CUDART_INF_F, sum = 0.f;
    float acc[8]; // headDim / 32 values per lane (headDim <= 256)
    for (int j = 0; j < 8; j++) acc[j] = 0.f;
    for (int b = warp; b < numBlocks; b += WARPS) {
        int width = kvHeads * headDim;
        long base = ((long) table[b] * layers + layer) * blockSize * width + (long) kvh * headDim;
        int slots = min(blockSize, len - b * blockSize);
        for (int s = 0; s < slots; s++) {
            const float* key = kPool + base + (long) s * width;
            float dot = 0.f;
            for (int d = lane; d < headDim; d += WARP) dot += qs[d] * key[d];
            float score = warp_sum(dot);
            float mNew = fmaxf(m, score);
            float correction = __expf(m - mNew), p = __expf(score - mNew);
            sum = sum * correction + p;
            const float* val = vPool + base + (long) s * width;
            for (int j = 0, d = lane; d < headDim; j++, d += WARP) acc[j] = acc[j] * correction + p * val[d];
            m = mNew;
        }
    }
    // merge the warps' partial softmaxes
    if (lane == 0) {
        warpMax[warp] = m;
    }
    __syncthreads();
    float mAll = -CUDART_INF_F;
    for (int w = 0; w < WARPS; w++) mAll = fmaxf(mAll, warpMax[w]);
    float factor = m == -CUDART_INF_F ? 0.f : __expf(m - mAll);
    if (lane == 0) warpSum[warp] = sum * factor;
    for (int j = 0, d = lane; d < headDim; j++, d += WARP) warpOut[warp][d] = acc[j] * factor;
    __syncthreads();
    float total = 0.f;
    for (int w = 0; w < WARPS; w++) total += warpSum[w];
    float* o = out + ((long) t * heads + h) * headDim;
    for (int d = threadIdx.x; d < headDim; d += blockDim.x) {
        float v = 0.f;
        for (int w = 0; w < WARPS; w++) v += warpOut[w][d];
        o[d] = v / total;
    }
}


// y[t][i] += bias[i] for n tokens of width values; grid = ceil(n * width / 256), block = 256.
extern "C" __global__ void add_bias_f32(float* __restrict__ y, const float* __restrict__ bias, long n, int width) {
    long i = (long) blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n * width) y[i] += bias[i % width];
}
