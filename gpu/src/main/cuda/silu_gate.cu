// SwiGLU's gate: gate = silu(gate) * up, elementwise over n values.
#include "common.cuh"

extern "C" __global__ void __launch_bounds__(256)
qf_silu_gate(float* __restrict__ gate, const float* __restrict__ up, int n) {
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
        float g = gate[i];
        gate[i] = g / (1.f + expf(-g)) * up[i];
    }
}
