// LLM.int8(): y = x · W^T for x (M, K) fp32 and W (N, K) int8 with per-output-channel scales sw.
// Columns of x holding any |value| >= threshold in the batch are outliers: they stay in fp32 and
// multiply the matching (dequantized) weight columns; the rest is quantized per row and goes
// through the int8 tensor-core product. The pipeline, one launch each:
//   1. qf_outlier_flags     bit k of flags is set when column k has an outlier (atomicOr per warp)
//   2. qf_outlier_compact   flags -> sorted column list + count (and clears flags for the next call)
//   3. qf_quantize_masked   per-row int8 of the non-outlier part, scale sx; xo = the outlier values
//   4. qf_int8_gemm / qf_int8_gemv
//        y[m,n] = sw[n] * (sx[m] * sum_k q[m,k] w[n,k] + sum_j xo[m,j] w[n,cols[j]]) + bias[n]
//      both terms merged in the epilogue, y written once.
// With outlierCount == nullptr step 4 alone is W8A8 with per-token x per-channel scales.
#include "int8_mma.cuh"

extern "C" __global__ void __launch_bounds__(256)
qf_outlier_flags(const float* __restrict__ x, int M, int K, float threshold, unsigned* __restrict__ flags) {
    int k = blockIdx.x * blockDim.x + threadIdx.x;
    bool hit = false;
    if (k < K)
        for (int r = blockIdx.y; r < M; r += gridDim.y) hit |= fabsf(x[(size_t) r * K + k]) >= threshold;
    unsigned mask = __ballot_sync(QF_FULL_MASK, hit);   // a warp covers the 32 columns of one flag word
    if ((threadIdx.x & 31) == 0 && mask != 0u) atomicOr(&flags[k >> 5], mask);
}

// One block of 1024 threads scans the ceil(K/32) flag words in order.
extern "C" __global__ void __launch_bounds__(1024)
qf_outlier_compact(unsigned* __restrict__ flags, int K, int* __restrict__ cols, int* __restrict__ count) {
    __shared__ int warpTotals[32];
    __shared__ int base;
    int words = (K + 31) >> 5, lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    if (threadIdx.x == 0) base = 0;
    __syncthreads();
    for (int w0 = 0; w0 < words; w0 += blockDim.x) {
        int w = w0 + threadIdx.x;
        unsigned bits = w < words ? flags[w] : 0u;
        int n = __popc(bits), incl = n;
#pragma unroll
        for (int o = 1; o < 32; o <<= 1) {
            int v = __shfl_up_sync(QF_FULL_MASK, incl, o);
            if (lane >= o) incl += v;
        }
        if (lane == 31) warpTotals[warp] = incl;
        __syncthreads();
        if (warp == 0) {
            int tot = lane < (int) (blockDim.x >> 5) ? warpTotals[lane] : 0, s = tot;
#pragma unroll
            for (int o = 1; o < 32; o <<= 1) {
                int v = __shfl_up_sync(QF_FULL_MASK, s, o);
                if (lane >= o) s += v;
            }
            warpTotals[lane] = s - tot;   // exclusive prefix of the warps
        }
        __syncthreads();
        int at = base + warpTotals[warp] + incl - n;
        while (bits) {
            int b = __ffs(bits) - 1;
            cols[at++] = (w << 5) + b;
            bits &= bits - 1;
        }
        if (w < words) flags[w] = 0u;
        __syncthreads();
        if (threadIdx.x == blockDim.x - 1) base = at;
        __syncthreads();
    }
    if (threadIdx.x == 0) *count = base;
}

__device__ __forceinline__ bool qf_is_outlier(const unsigned* flags, int k) { return (flags[k >> 5] >> (k & 31)) & 1u; }

// Runs after qf_outlier_compact (which cleared the flags): rebuilds the column mask from the list in
// shared memory. cacheK is K when the row fits in shared memory next to the mask, else 0.
extern "C" __global__ void __launch_bounds__(256)
qf_quantize_masked(const float* __restrict__ x, int M, int K, const int* __restrict__ cols, const int* __restrict__ count,
                   int8_t* __restrict__ q, float* __restrict__ scales, float* __restrict__ xo, int cacheK) {
    extern __shared__ float dyn[];      // cacheK floats of the row, then ceil(K/32) mask words
    __shared__ float scratch[32];
    int row = blockIdx.x;
    if (row >= M) return;
    int words = (K + 31) >> 5;
    bool cached = K <= cacheK;
    unsigned* mask = reinterpret_cast<unsigned*>(dyn + (cached ? cacheK : 0));
    for (int w = threadIdx.x; w < words; w += blockDim.x) mask[w] = 0u;
    __syncthreads();
    int nOut = *count;
    for (int j = threadIdx.x; j < nOut; j += blockDim.x) atomicOr(&mask[cols[j] >> 5], 1u << (cols[j] & 31));
    __syncthreads();
    const float* xr = x + (size_t) row * K;
    float amax = 0.f;
    for (int k = threadIdx.x; k < K; k += blockDim.x) {
        float v = xr[k];
        if (cached) dyn[k] = v;
        if (!qf_is_outlier(mask, k)) amax = fmaxf(amax, fabsf(v));
    }
    amax = qf_block_reduce<true>(amax, scratch);
    float inv = amax > 0.f ? 127.f / amax : 0.f;
    if (threadIdx.x == 0) scales[row] = amax / 127.f;
    int8_t* qr = q + (size_t) row * K;
    for (int k = threadIdx.x; k < K; k += blockDim.x)
        qr[k] = qf_is_outlier(mask, k) ? (int8_t) 0 : qf_quantize(cached ? dyn[k] : xr[k], inv);
    float* xor_ = xo + (size_t) row * K;    // (M, K) workspace, first nOut entries of a row used
    for (int j = threadIdx.x; j < nOut; j += blockDim.x) xor_[j] = cached ? dyn[cols[j]] : xr[cols[j]];
}

// Outlier term of the epilogue: sum_j xo[m,j] * w[n, cols[j]] (fp32; the weight dequantized by sw
// outside). A handful of columns in practice; correct, only slower, for many.
__device__ __forceinline__ float qf_outlier_dot(const float* __restrict__ xo, const int8_t* __restrict__ W, const int* __restrict__ cols,
                                                int nOut, int m, int n, int K) {
    float s = 0.f;
    const float* xm = xo + (size_t) m * K;
    const int8_t* wn = W + (size_t) n * K;
    for (int j = 0; j < nOut; j++) s = fmaf(xm[j], (float) wn[cols[j]], s);
    return s;
}

extern "C" __global__ void __launch_bounds__(qf_i8::THREADS)
qf_int8_gemm(const int8_t* __restrict__ A, const int8_t* __restrict__ W, const float* __restrict__ sx, const float* __restrict__ sw,
             const float* __restrict__ bias, float* __restrict__ Y, int M, int N, int K,
             const int* __restrict__ cols, const int* __restrict__ count, const float* __restrict__ xo) {
    int nOut = count ? *count : 0;
    qf_i8::gemm_tile<false>(A, W, M, N, K, K, nullptr, nullptr, [&](int m, int n, int acc, float) {
        float v = (float) acc * sx[m];
        if (nOut > 0) v += qf_outlier_dot(xo, W, cols, nOut, m, n, K);
        Y[(size_t) m * N + n] = fmaf(v, sw[n], bias ? bias[n] : 0.f);
    });
}

// Decode (M <= 8): one warp per output channel, 16-byte loads of W and x, dp4a.
constexpr int QF_GEMV_ROWS = 8;

extern "C" __global__ void __launch_bounds__(256)
qf_int8_gemv(const int8_t* __restrict__ A, const int8_t* __restrict__ W, const float* __restrict__ sx, const float* __restrict__ sw,
             const float* __restrict__ bias, float* __restrict__ Y, int M, int N, int K,
             const int* __restrict__ cols, const int* __restrict__ count, const float* __restrict__ xo) {
    int n = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5), lane = threadIdx.x & 31;
    if (n >= N) return;
    const int8_t* wr = W + (size_t) n * K;
    int acc[QF_GEMV_ROWS];
#pragma unroll
    for (int r = 0; r < QF_GEMV_ROWS; r++) acc[r] = 0;
    if ((K & 15) == 0) {
        for (int k = lane * 16; k < K; k += 32 * 16) {
            int4 w = *reinterpret_cast<const int4*>(wr + k);
#pragma unroll
            for (int r = 0; r < QF_GEMV_ROWS; r++)
                if (r < M) {
                    int4 a = *reinterpret_cast<const int4*>(A + (size_t) r * K + k);
                    acc[r] = __dp4a(a.x, w.x, __dp4a(a.y, w.y, __dp4a(a.z, w.z, __dp4a(a.w, w.w, acc[r]))));
                }
        }
    } else {
        for (int k = lane; k < K; k += 32) {
            int w = wr[k];
#pragma unroll
            for (int r = 0; r < QF_GEMV_ROWS; r++)
                if (r < M) acc[r] += w * (int) A[(size_t) r * K + k];
        }
    }
    int nOut = count ? *count : 0;
#pragma unroll
    for (int r = 0; r < QF_GEMV_ROWS; r++) {
        if (r >= M) break;
        int s = acc[r];
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(QF_FULL_MASK, s, o);
        float out = 0.f;
        for (int j = lane; j < nOut; j += 32) out = fmaf(xo[(size_t) r * K + j], (float) wr[cols[j]], out);
        out = qf_warp_sum(out);
        if (lane == 0) Y[(size_t) r * N + n] = fmaf((float) s * sx[r] + out, sw[n], bias ? bias[n] : 0.f);
    }
}
