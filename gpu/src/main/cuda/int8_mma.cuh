// int8 x int8 -> int32 matrix products on tensor cores (mma.sync m16n8k32, sm_80+) and the dp4a
// GEMV for decode, shared by LLM.int8() (llm_int8.cu) and W8A8 (w8a8.cu).
//
// y (M, N) = x (M, K) · W^T with W (N, K) row-major: W's rows are exactly the column-major B that
// mma.sync .row.col wants, so both operands are staged the same way. Fragment layout (PTX ISA,
// g = lane / 4, t = lane % 4): A regs {A[g][4t..], A[g+8][4t..], A[g][16+4t..], A[g+8][16+4t..]},
// B regs {W[g][4t..], W[g][16+4t..]}, C {C[g][2t], C[g][2t+1], C[g+8][2t], C[g+8][2t+1]}.
#pragma once
#include "common.cuh"

namespace qf_i8 {

constexpr int BM = 64, BN = 64, BK = 64;
constexpr int LDS = BK + 16;      // 80-byte rows: fragment loads of a warp hit 32 distinct banks
constexpr int THREADS = 128;      // 4 warps in 2 x 2, each a 32 x 32 tile: 2 (m16) x 4 (n8) mma

__device__ __forceinline__ void mma16832(int (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
    asm volatile("mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+r"(d[0]), "+r"(d[1]), "+r"(d[2]), "+r"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// 16 bytes global -> shared without passing through registers; zero-fills when !valid.
__device__ __forceinline__ void cp_async16(void* smem, const void* gmem, bool valid) {
    unsigned s = (unsigned) __cvta_generic_to_shared(smem);
    int bytes = valid ? 16 : 0;
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(gmem), "r"(bytes));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void cp_async_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N)); }

// Stages rows [r0, r0+64) x columns [k0, k0+64) of a (rows, K) int8 matrix, zero outside it.
// vec (K % 16 == 0): 16-byte cp.async; otherwise byte loads (coalesced along the row).
__device__ __forceinline__ void load_tile(int8_t (*s)[LDS], const int8_t* __restrict__ g, int rows, int K, int r0, int k0, bool vec) {
    if (vec) {
#pragma unroll
        for (int i = 0; i < 2; i++) {
            int c = threadIdx.x + i * THREADS;
            int r = c >> 2, col = (c & 3) * 16;
            int gr = r0 + r, gk = k0 + col;
            bool ok = gr < rows && gk < K;
            cp_async16(&s[r][col], ok ? g + (size_t) gr * K + gk : g, ok);
        }
    } else {
        for (int e = threadIdx.x; e < BM * BK; e += THREADS) {
            int r = e / BK, col = e % BK, gr = r0 + r, gk = k0 + col;
            s[r][col] = gr < rows && gk < K ? g[(size_t) gr * K + gk] : (int8_t) 0;
        }
    }
}

__device__ __forceinline__ uint32_t lds32(const int8_t* p) { return *reinterpret_cast<const uint32_t*>(p); }

// The tile product. After every k32 step of group boundary (GROUPED) the int32 partial sums are
// folded into fp32 with scale(row, group) * scale(col, group); otherwise int32 runs through K.
// Epi is called once per output element with (row, col, int32 sum, fp32 folded sum).
template <bool GROUPED, typename Epi>
__device__ __forceinline__ void gemm_tile(const int8_t* __restrict__ A, const int8_t* __restrict__ W, int M, int N, int K,
                                          int G, const float* __restrict__ sxg, const float* __restrict__ swg, Epi epi) {
    __shared__ __align__(16) int8_t As[2][BM][LDS];
    __shared__ __align__(16) int8_t Bs[2][BN][LDS];
    int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
    int wm = (warp >> 1) * 32, wn = (warp & 1) * 32;
    bool vec = (K & 15) == 0;
    int acc[2][4][4];
    float facc[2][4][4];
#pragma unroll
    for (int i = 0; i < 2; i++)
#pragma unroll
        for (int j = 0; j < 4; j++)
#pragma unroll
            for (int c = 0; c < 4; c++) acc[i][j][c] = 0, facc[i][j][c] = 0.f;

    int tiles = (K + BK - 1) / BK;
    load_tile(As[0], A, M, K, m0, 0, vec);
    load_tile(Bs[0], W, N, K, n0, 0, vec);
    cp_async_commit();
    for (int tile = 0; tile < tiles; tile++) {
        int buf = tile & 1;
        if (tile + 1 < tiles) {
            load_tile(As[buf ^ 1], A, M, K, m0, (tile + 1) * BK, vec);
            load_tile(Bs[buf ^ 1], W, N, K, n0, (tile + 1) * BK, vec);
            cp_async_commit();
            cp_async_wait<1>();
        } else {
            cp_async_wait<0>();
        }
        __syncthreads();
#pragma unroll
        for (int ks = 0; ks < BK / 32; ks++) {
            int kglob = tile * BK + ks * 32;
            if (kglob >= K) break;   // uniform across the block
            uint32_t a[2][4], b[4][2];
#pragma unroll
            for (int i = 0; i < 2; i++) {
                const int8_t* p = &As[buf][wm + i * 16 + g][ks * 32 + t * 4];
                a[i][0] = lds32(p);
                a[i][1] = lds32(p + 8 * LDS);
                a[i][2] = lds32(p + 16);
                a[i][3] = lds32(p + 8 * LDS + 16);
            }
#pragma unroll
            for (int j = 0; j < 4; j++) {
                const int8_t* p = &Bs[buf][wn + j * 8 + g][ks * 32 + t * 4];
                b[j][0] = lds32(p);
                b[j][1] = lds32(p + 16);
            }
#pragma unroll
            for (int i = 0; i < 2; i++)
#pragma unroll
                for (int j = 0; j < 4; j++) mma16832(acc[i][j], a[i], b[j][0], b[j][1]);
            if (GROUPED && ((kglob + 32) % G == 0 || kglob + 32 >= K)) {
                int groups = K / G, gi = kglob / G;
#pragma unroll
                for (int i = 0; i < 2; i++)
#pragma unroll
                    for (int h = 0; h < 2; h++) {
                        int row = min(m0 + wm + i * 16 + g + 8 * h, M - 1);
                        float sa = sxg[(size_t) row * groups + gi];
#pragma unroll
                        for (int j = 0; j < 4; j++)
#pragma unroll
                            for (int e = 0; e < 2; e++) {
                                int col = min(n0 + wn + j * 8 + 2 * t + e, N - 1);
                                int c = 2 * h + e;
                                facc[i][j][c] += (float) acc[i][j][c] * sa * swg[(size_t) col * groups + gi];
                                acc[i][j][c] = 0;
                            }
                    }
            }
        }
        __syncthreads();   // the next iteration's prefetch overwrites this buffer
    }
#pragma unroll
    for (int i = 0; i < 2; i++)
#pragma unroll
        for (int j = 0; j < 4; j++)
#pragma unroll
            for (int c = 0; c < 4; c++) {
                int row = m0 + wm + i * 16 + g + (c >= 2 ? 8 : 0);
                int col = n0 + wn + j * 8 + 2 * t + (c & 1);
                if (row < M && col < N) epi(row, col, acc[i][j][c], facc[i][j][c]);
            }
}

}  // namespace qf_i8
