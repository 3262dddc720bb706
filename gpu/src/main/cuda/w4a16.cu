// W4A16: 4-bit weights, fp32 activations. W (N, K) packed two per byte (low nibble = even k),
// unsigned codes 0..15 with a scale and a zero point per (row, group of G columns):
// w = (code - zero) * scale. Dequantized in registers right before the FMA (decode: fused GEMV).
// G % 8 == 0 and K % G == 0 (checked by the caller).
#include "fp_matmul.cuh"

struct Int4Weights {
    const uint8_t* q; const float* scales; const float* zeros; int K, G;
    __device__ float at(int n, int k) const {
        uint8_t b = q[(size_t) n * (K >> 1) + (k >> 1)];
        int code = (k & 1) ? b >> 4 : b & 15;
        size_t gi = (size_t) n * (K / G) + k / G;
        return ((float) code - zeros[gi]) * scales[gi];
    }
    __device__ void load8(int n, int k, float (&o)[8]) const {
        unsigned v = *reinterpret_cast<const unsigned*>(q + (size_t) n * (K >> 1) + (k >> 1));
        size_t gi = (size_t) n * (K / G) + k / G;
        float s = scales[gi], z = zeros[gi];
#pragma unroll
        for (int i = 0; i < 8; i++) o[i] = ((float) ((v >> (4 * i)) & 15u) - z) * s;
    }
};

extern "C" __global__ void __launch_bounds__(256)
qf_w4a16_gemv(const float* __restrict__ X, const uint8_t* __restrict__ Wq, const float* __restrict__ scales, const float* __restrict__ zeros,
              const float* __restrict__ bias, float* __restrict__ Y, int M, int N, int K, int G) {
    qf_fp::gemv(X, Int4Weights{Wq, scales, zeros, K, G}, bias, Y, M, N, K);
}

extern "C" __global__ void __launch_bounds__(256)
qf_w4a16_gemm(const float* __restrict__ X, const uint8_t* __restrict__ Wq, const float* __restrict__ scales, const float* __restrict__ zeros,
              const float* __restrict__ bias, float* __restrict__ Y, int M, int N, int K, int G) {
    qf_fp::gemm(X, Int4Weights{Wq, scales, zeros, K, G}, bias, Y, M, N, K);
}
