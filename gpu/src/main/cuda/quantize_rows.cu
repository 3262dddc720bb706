// Per-token dynamic quantization: for each row of x (M, K): scale = absmax / 127, q = rint(x / scale)
// in [-127, 127]. One pass over device memory: a row is staged in shared memory while its absmax is
// reduced, then quantized from there (rows longer than the shared-memory cache are read twice,
// the second time from L2).
#include "common.cuh"

extern "C" __global__ void __launch_bounds__(256)
qf_quantize_rows(const float* __restrict__ x, int8_t* __restrict__ q, float* __restrict__ scales, int M, int K, int cacheK) {
    extern __shared__ float cache[];   // cacheK floats (0 when K is too large to stage)
    __shared__ float scratch[32];
    int row = blockIdx.x;
    if (row >= M) return;
    const float* xr = x + (size_t) row * K;
    bool cached = K <= cacheK;
    float amax = 0.f;
    for (int k = threadIdx.x; k < K; k += blockDim.x) {
        float v = xr[k];
        if (cached) cache[k] = v;
        amax = fmaxf(amax, fabsf(v));
    }
    amax = qf_block_reduce<true>(amax, scratch);   // its barriers also publish the cache
    float inv = amax > 0.f ? 127.f / amax : 0.f;
    if (threadIdx.x == 0) scales[row] = amax / 127.f;
    int8_t* qr = q + (size_t) row * K;
    for (int k = threadIdx.x; k < K; k += blockDim.x) qr[k] = qf_quantize(cached ? cache[k] : xr[k], inv);
}

// Group-wise variant for W8A8: one warp per (row, group) of G consecutive columns; scales (M, K/G).
// K must be a multiple of G.
extern "C" __global__ void __launch_bounds__(256)
qf_quantize_groups(const float* __restrict__ x, int8_t* __restrict__ q, float* __restrict__ scales, int M, int K, int G) {
    int groups = K / G;
    long long item = (long long) blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    if (item >= (long long) M * groups) return;
    int lane = threadIdx.x & 31;
    int row = (int) (item / groups), g = (int) (item % groups);
    const float* xg = x + (size_t) row * K + (size_t) g * G;
    constexpr int CACHED = 16;           // a group of up to 512 stays in registers
    float v[CACHED];
    float amax = 0.f;
#pragma unroll
    for (int i = 0; i < CACHED; i++) {
        int k = lane + 32 * i;
        v[i] = k < G ? xg[k] : 0.f;
        amax = fmaxf(amax, fabsf(v[i]));
    }
    for (int k = lane + 32 * CACHED; k < G; k += 32) amax = fmaxf(amax, fabsf(xg[k]));
    amax = qf_warp_max(amax);
    float inv = amax > 0.f ? 127.f / amax : 0.f;
    if (lane == 0) scales[(size_t) row * groups + g] = amax / 127.f;
    int8_t* qg = q + (size_t) row * K + (size_t) g * G;
#pragma unroll
    for (int i = 0; i < CACHED; i++) {
        int k = lane + 32 * i;
        if (k < G) qg[k] = qf_quantize(v[i], inv);
    }
    for (int k = lane + 32 * CACHED; k < G; k += 32) qg[k] = qf_quantize(xg[k], inv);
}
