// Unquantized linear layers: fp32, bf16 and fp16 weights (N, K), fp32 activations and accumulation.
#include "fp_matmul.cuh"

struct F32Weights {
    const float* w; int K;
    __device__ float at(int n, int k) const { return w[(size_t) n * K + k]; }
    __device__ void load8(int n, int k, float (&o)[8]) const {
        const float4* p = reinterpret_cast<const float4*>(w + (size_t) n * K + k);
        float4 a = p[0], b = p[1];
        o[0] = a.x; o[1] = a.y; o[2] = a.z; o[3] = a.w; o[4] = b.x; o[5] = b.y; o[6] = b.z; o[7] = b.w;
    }
};

template <bool BF16>
struct Half16Weights {   // bf16 or IEEE fp16, as raw 16-bit words
    const uint16_t* w; int K;
    __device__ static float decode(uint16_t h) { return BF16 ? qf_bf16_to_float(h) : qf_f16_to_float(h); }
    __device__ float at(int n, int k) const { return decode(w[(size_t) n * K + k]); }
    __device__ void load8(int n, int k, float (&o)[8]) const {
        uint4 v = *reinterpret_cast<const uint4*>(w + (size_t) n * K + k);
        unsigned words[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
        for (int i = 0; i < 4; i++) {
            o[2 * i] = decode((uint16_t) (words[i] & 0xffffu));
            o[2 * i + 1] = decode((uint16_t) (words[i] >> 16));
        }
    }
};

#define QF_DENSE(NAME, LOADER, TYPE)                                                                                      \
    extern "C" __global__ void __launch_bounds__(256, 2) qf_gemv_##NAME(const float* __restrict__ X, const TYPE* __restrict__ W, \
            const float* __restrict__ bias, float* __restrict__ Y, int M, int N, int K) {                                 \
        qf_fp::gemv(X, LOADER{W, K}, bias, Y, M, N, K);                                                                   \
    }                                                                                                                     \
    extern "C" __global__ void __launch_bounds__(256) qf_gemm_##NAME(const float* __restrict__ X, const TYPE* __restrict__ W, \
            const float* __restrict__ bias, float* __restrict__ Y, int M, int N, int K) {                                 \
        qf_fp::gemm(X, LOADER{W, K}, bias, Y, M, N, K);                                                                   \
    }

QF_DENSE(f32, F32Weights, float)
QF_DENSE(bf16, Half16Weights<true>, uint16_t)
QF_DENSE(f16, Half16Weights<false>, uint16_t)
