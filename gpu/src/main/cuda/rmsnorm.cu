// RMSNorm per row: out = x / sqrt(mean(x^2) + eps) * weight; one block per row.
#include "common.cuh"

extern "C" __global__ void __launch_bounds__(256)
qf_rmsnorm(const float* __restrict__ x, const float* __restrict__ weight, float* __restrict__ out, int M, int D, float eps) {
    __shared__ float scratch[32];
    int r = blockIdx.x;
    if (r >= M) return;
    const float* xr = x + (size_t) r * D;
    float ss = 0.f;
    for (int i = threadIdx.x; i < D; i += blockDim.x) ss = fmaf(xr[i], xr[i], ss);
    ss = qf_block_reduce<false>(ss, scratch);
    float inv = (float) (1.0 / sqrt((double) (ss / D + eps)));   // as the CPU path computes it
    for (int i = threadIdx.x; i < D; i += blockDim.x) out[(size_t) r * D + i] = xr[i] * inv * weight[i];
}
