// Helpers shared by every Quantflow kernel: reductions, 16-bit float decoding, int8 rounding.
// Kernels are extern "C" so the Java side finds them by their plain names (see KernelNames.java).
#pragma once
#include <cstdint>
#include <cuda_fp16.h>

#define QF_FULL_MASK 0xffffffffu

__device__ __forceinline__ float qf_warp_sum(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(QF_FULL_MASK, v, o);
    return v;
}

__device__ __forceinline__ float qf_warp_max(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(QF_FULL_MASK, v, o));
    return v;
}

// Block-wide reduction of one value per thread; every thread gets the result. blockDim.x must be
// a multiple of 32 and at most 1024. scratch holds 32 floats.
template <bool MAX>
__device__ __forceinline__ float qf_block_reduce(float v, float* scratch) {
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    v = MAX ? qf_warp_max(v) : qf_warp_sum(v);
    __syncthreads();  // scratch may still be read by a previous reduction
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    float r = lane < warps ? scratch[lane] : (MAX ? 0.f : 0.f);
    r = MAX ? qf_warp_max(r) : qf_warp_sum(r);
    return r;
}

__device__ __forceinline__ float qf_bf16_to_float(uint16_t b) {
    return __uint_as_float(((uint32_t) b) << 16);
}

__device__ __forceinline__ float qf_f16_to_float(uint16_t h) {
    return __half2float(__ushort_as_half(h));
}

// Symmetric int8 code of v for the reciprocal scale inv = 127 / absmax: round half to even, then
// clamp to [-127, 127] (the CPU reference uses Math.rint the same way).
__device__ __forceinline__ int8_t qf_quantize(float v, float inv) {
    float q = rintf(v * inv);
    q = fminf(127.f, fmaxf(-127.f, q));
    return (int8_t) (int) q;
}
