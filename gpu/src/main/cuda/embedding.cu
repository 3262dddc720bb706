// Embedding gather: out[r] = table[ids[r]] for a (rows, D) table; ids are checked by the caller.
// The fp32 variant also gathers selected activation rows (e.g. the rows that need logits).
#include "common.cuh"

extern "C" __global__ void __launch_bounds__(256)
qf_embed_f32(const float* __restrict__ table, const int* __restrict__ ids, float* __restrict__ out, int M, int D) {
    int r = blockIdx.x;
    if (r >= M) return;
    const float* src = table + (size_t) ids[r] * D;
    for (int i = threadIdx.x; i < D; i += blockDim.x) out[(size_t) r * D + i] = src[i];
}

extern "C" __global__ void __launch_bounds__(256)
qf_embed_bf16(const uint16_t* __restrict__ table, const int* __restrict__ ids, float* __restrict__ out, int M, int D) {
    int r = blockIdx.x;
    if (r >= M) return;
    const uint16_t* src = table + (size_t) ids[r] * D;
    for (int i = threadIdx.x; i < D; i += blockDim.x) out[(size_t) r * D + i] = qf_bf16_to_float(src[i]);
}

extern "C" __global__ void __launch_bounds__(256)
qf_embed_f16(const uint16_t* __restrict__ table, const int* __restrict__ ids, float* __restrict__ out, int M, int D) {
    int r = blockIdx.x;
    if (r >= M) return;
    const uint16_t* src = table + (size_t) ids[r] * D;
    for (int i = threadIdx.x; i < D; i += blockDim.x) out[(size_t) r * D + i] = qf_f16_to_float(src[i]);
}
