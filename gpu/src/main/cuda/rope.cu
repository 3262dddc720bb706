// Rotary position embedding, Hugging Face rotate-half layout: in each head, element i pairs with
// i + headDim/2 and both turn by positions[r] * invFreq[i]. In place over x (M, heads * headDim).
// The angle is an fp32 product as on the CPU; cos/sin in double, rounded to fp32, like Java's.
#include "common.cuh"

extern "C" __global__ void __launch_bounds__(256)
qf_rope(float* __restrict__ x, const int* __restrict__ positions, const float* __restrict__ invFreq, int M, int heads, int headDim) {
    int r = blockIdx.x;
    if (r >= M) return;
    int half = headDim >> 1;
    float pos = (float) positions[r];
    float* xr = x + (size_t) r * heads * headDim;
    for (int e = threadIdx.x; e < heads * half; e += blockDim.x) {
        int h = e / half, i = e % half;
        float angle = pos * invFreq[i];
        double s, c;
        sincos((double) angle, &s, &c);
        float cs = (float) c, sn = (float) s;
        float* p = xr + h * headDim;
        float x0 = p[i], x1 = p[i + half];
        p[i] = x0 * cs - x1 * sn;
        p[i + half] = x1 * cs + x0 * sn;
    }
}
