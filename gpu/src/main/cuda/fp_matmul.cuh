// y (M, N) = x (M, K) · W^T (+ bias) with fp32 activations and weights W (N, K) in some storage
// format, read through a loader: at(n, k) for one weight, load8(n, k, out) for 8 consecutive ones
// (k % 8 == 0, rows 16-byte aligned when K % 8 == 0). Two shapes of the same product:
//   gemv: decode (M <= 8), one warp per output channel, weights streamed once with wide loads;
//   gemm: 64 x 64 output tiles, 256 threads of 4 x 4 fp32 FMA each (no tensor cores yet).
#pragma once
#include "common.cuh"

namespace qf_fp {

constexpr int GEMV_ROWS = 8;

template <typename WL>
__device__ __forceinline__ void gemv(const float* __restrict__ X, const WL& w, const float* __restrict__ bias, float* __restrict__ Y,
                                     int M, int N, int K) {
    int n = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5), lane = threadIdx.x & 31;
    if (n >= N) return;
    float acc[GEMV_ROWS];
#pragma unroll
    for (int r = 0; r < GEMV_ROWS; r++) acc[r] = 0.f;
    if ((K & 7) == 0) {
        for (int k = lane * 8; k < K; k += 32 * 8) {
            float wv[8];
            w.load8(n, k, wv);
#pragma unroll
            for (int r = 0; r < GEMV_ROWS; r++)
                if (r < M) {
                    const float4* xp = reinterpret_cast<const float4*>(X + (size_t) r * K + k);
                    float4 x0 = xp[0], x1 = xp[1];
                    float s = acc[r];
                    s = fmaf(x0.x, wv[0], s); s = fmaf(x0.y, wv[1], s); s = fmaf(x0.z, wv[2], s); s = fmaf(x0.w, wv[3], s);
                    s = fmaf(x1.x, wv[4], s); s = fmaf(x1.y, wv[5], s); s = fmaf(x1.z, wv[6], s); s = fmaf(x1.w, wv[7], s);
                    acc[r] = s;
                }
        }
    } else {
        for (int k = lane; k < K; k += 32) {
            float wv = w.at(n, k);
#pragma unroll
            for (int r = 0; r < GEMV_ROWS; r++)
                if (r < M) acc[r] = fmaf(X[(size_t) r * K + k], wv, acc[r]);
        }
    }
#pragma unroll
    for (int r = 0; r < GEMV_ROWS; r++) {
        if (r >= M) break;
        float s = qf_warp_sum(acc[r]);
        if (lane == 0) Y[(size_t) r * N + n] = s + (bias ? bias[n] : 0.f);
    }
}

constexpr int TM = 64, TN = 64, TK = 16, THREADS = 256;

template <typename WL>
__device__ __forceinline__ void gemm(const float* __restrict__ X, const WL& w, const float* __restrict__ bias, float* __restrict__ Y,
                                     int M, int N, int K) {
    __shared__ float As[TK][TM + 4];
    __shared__ float Bs[TK][TN + 4];
    int tx = threadIdx.x & 15, ty = threadIdx.x >> 4;
    int m0 = blockIdx.y * TM, n0 = blockIdx.x * TN;
    float acc[4][4];
#pragma unroll
    for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 4; j++) acc[i][j] = 0.f;
    for (int k0 = 0; k0 < K; k0 += TK) {
#pragma unroll
        for (int i = 0; i < 4; i++) {
            int e = threadIdx.x + i * THREADS, r = e >> 4, kk = e & 15, gk = k0 + kk;
            int gm = m0 + r, gn = n0 + r;
            As[kk][r] = gm < M && gk < K ? X[(size_t) gm * K + gk] : 0.f;
            Bs[kk][r] = gn < N && gk < K ? w.at(gn, gk) : 0.f;
        }
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < TK; kk++) {
            float a[4], b[4];
#pragma unroll
            for (int i = 0; i < 4; i++) a[i] = As[kk][ty + 16 * i];
#pragma unroll
            for (int j = 0; j < 4; j++) b[j] = Bs[kk][tx + 16 * j];
#pragma unroll
            for (int i = 0; i < 4; i++)
#pragma unroll
                for (int j = 0; j < 4; j++) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
        }
        __syncthreads();
    }
#pragma unroll
    for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 4; j++) {
            int row = m0 + ty + 16 * i, col = n0 + tx + 16 * j;
            if (row < M && col < N) Y[(size_t) row * N + col] = acc[i][j] + (bias ? bias[col] : 0.f);
        }
}

}  // namespace qf_fp
