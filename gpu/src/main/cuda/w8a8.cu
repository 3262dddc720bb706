// W8A8 group-wise: x quantized per token and group of G columns (qf_quantize_groups: sx (M, K/G)),
// W per output channel and group (sw (N, K/G)); y[m,n] = sum_g sx[m,g] sw[n,g] sum_{k in g} q w.
// The int32 partial sums of a group are folded into fp32 at each group boundary. G % 32 == 0 and
// K % G == 0 (checked by the caller).
#include "int8_mma.cuh"

extern "C" __global__ void __launch_bounds__(qf_i8::THREADS)
qf_w8a8_gemm(const int8_t* __restrict__ A, const int8_t* __restrict__ W, const float* __restrict__ sx, const float* __restrict__ sw,
             const float* __restrict__ bias, float* __restrict__ Y, int M, int N, int K, int G) {
    qf_i8::gemm_tile<true>(A, W, M, N, K, G, sx, sw, [&](int m, int n, int, float facc) {
        Y[(size_t) m * N + n] = facc + (bias ? bias[n] : 0.f);
    });
}

// Decode (M <= 8): one warp per output channel; each lane's 16-byte chunk lies inside one group.
extern "C" __global__ void __launch_bounds__(256)
qf_w8a8_gemv(const int8_t* __restrict__ A, const int8_t* __restrict__ W, const float* __restrict__ sx, const float* __restrict__ sw,
             const float* __restrict__ bias, float* __restrict__ Y, int M, int N, int K, int G) {
    constexpr int ROWS = 8;
    int n = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5), lane = threadIdx.x & 31;
    if (n >= N) return;
    int groups = K / G;
    const int8_t* wr = W + (size_t) n * K;
    float acc[ROWS];
#pragma unroll
    for (int r = 0; r < ROWS; r++) acc[r] = 0.f;
    for (int k = lane * 16; k < K; k += 32 * 16) {
        int4 w = *reinterpret_cast<const int4*>(wr + k);
        int g = k / G;
        float swg = sw[(size_t) n * groups + g];
#pragma unroll
        for (int r = 0; r < ROWS; r++)
            if (r < M) {
                int4 a = *reinterpret_cast<const int4*>(A + (size_t) r * K + k);
                int d = __dp4a(a.x, w.x, __dp4a(a.y, w.y, __dp4a(a.z, w.z, __dp4a(a.w, w.w, 0))));
                acc[r] = fmaf((float) d, sx[(size_t) r * groups + g] * swg, acc[r]);
            }
    }
#pragma unroll
    for (int r = 0; r < ROWS; r++) {
        if (r >= M) break;
        float s = qf_warp_sum(acc[r]);
        if (lane == 0) Y[(size_t) r * N + n] = s + (bias ? bias[n] : 0.f);
    }
}
