// Attention over the paged KV cache of one layer, grouped-query (numHeads / numKvHeads query heads
// share a KV head). Cache layout as the CPU's F32KvCache: (block, slot, kvHead, headDim), a token
// at position t of a sequence sits in block table[t / blockSize], slot t % blockSize.
#include "common.cuh"

// Writes the key and value rows (M, kvDim) of this step's tokens at their cache slots.
extern "C" __global__ void __launch_bounds__(256)
qf_kv_store(const float* __restrict__ k, const float* __restrict__ v, const int* __restrict__ slots,
            float* __restrict__ kc, float* __restrict__ vc, int M, int kvDim) {
    int r = blockIdx.x;
    if (r >= M) return;
    size_t dst = (size_t) slots[r] * kvDim, src = (size_t) r * kvDim;
    for (int i = threadIdx.x; i < kvDim; i += blockDim.x) {
        kc[dst + i] = k[src + i];
        vc[dst + i] = v[src + i];
    }
}

// One block per (query head, row): row r attends causally to positions [0, positions[r]] of its
// sequence, which covers decode rows and the rows of a prefill chunk alike (the chunk's own keys
// were stored first). Each of the 4 warps walks every 4th position with an online softmax, lanes
// spread over headDim (<= 256); the warps' partial results are merged at the end.
constexpr int QF_ATT_WARPS = 4, QF_ATT_PER_LANE = 8;

extern "C" __global__ void __launch_bounds__(QF_ATT_WARPS * 32)
qf_attention(const float* __restrict__ q, const float* __restrict__ kc, const float* __restrict__ vc,
             const int* __restrict__ tables, const int* __restrict__ tableOffsets, const int* __restrict__ positions,
             float* __restrict__ out, int M, int numHeads, int numKvHeads, int headDim, int blockSize) {
    __shared__ float wm[QF_ATT_WARPS], wl[QF_ATT_WARPS];
    __shared__ float wacc[QF_ATT_WARPS][32 * QF_ATT_PER_LANE];
    int h = blockIdx.x, r = blockIdx.y;
    if (r >= M || h >= numHeads) return;
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    int kvDim = numKvHeads * headDim, kvh = h / (numHeads / numKvHeads);
    const int* table = tables + tableOffsets[r];
    int pos = positions[r];
    float scale = (float) (1.0 / sqrt((double) headDim));   // as the CPU cache computes it
    const float* qh = q + (size_t) r * numHeads * headDim + (size_t) h * headDim;
    float qv[QF_ATT_PER_LANE], acc[QF_ATT_PER_LANE];
#pragma unroll
    for (int c = 0; c < QF_ATT_PER_LANE; c++) {
        int i = lane + 32 * c;
        qv[c] = i < headDim ? qh[i] : 0.f;
        acc[c] = 0.f;
    }
    float m = -INFINITY, l = 0.f;
    for (int t = warp; t <= pos; t += QF_ATT_WARPS) {
        size_t base = ((size_t) table[t / blockSize] * blockSize + t % blockSize) * kvDim + (size_t) kvh * headDim;
        float s = 0.f;
#pragma unroll
        for (int c = 0; c < QF_ATT_PER_LANE; c++) {
            int i = lane + 32 * c;
            if (i < headDim) s = fmaf(qv[c], kc[base + i], s);
        }
        s = qf_warp_sum(s) * scale;
        float mNew = fmaxf(m, s), corr = expf(m - mNew), p = expf(s - mNew);
        l = l * corr + p;
#pragma unroll
        for (int c = 0; c < QF_ATT_PER_LANE; c++) {
            int i = lane + 32 * c;
            acc[c] = acc[c] * corr + (i < headDim ? p * vc[base + i] : 0.f);
        }
        m = mNew;
    }
    if (lane == 0) { wm[warp] = m; wl[warp] = l; }
#pragma unroll
    for (int c = 0; c < QF_ATT_PER_LANE; c++) wacc[warp][lane + 32 * c] = acc[c];
    __syncthreads();
    float mAll = wm[0];
#pragma unroll
    for (int w = 1; w < QF_ATT_WARPS; w++) mAll = fmaxf(mAll, wm[w]);
    float den = 0.f, f[QF_ATT_WARPS];
#pragma unroll
    for (int w = 0; w < QF_ATT_WARPS; w++) {
        f[w] = wl[w] > 0.f ? expf(wm[w] - mAll) : 0.f;
        den += f[w] * wl[w];
    }
    float* oh = out + (size_t) r * numHeads * headDim + (size_t) h * headDim;
    for (int i = threadIdx.x; i < headDim; i += blockDim.x) {
        float num = 0.f;
#pragma unroll
        for (int w = 0; w < QF_ATT_WARPS; w++) num += f[w] * wacc[w][i];
        oh[i] = num / den;
    }
}
