package dev.quantflow.gpu;

import java.util.Optional;

/**
 * Typed launches of every kernel: argument order as in the .cu signatures, grid and block sizes
 * and shared memory as the kernels expect them. Matrices are row-major; activations fp32.
 * "Rows" M are token rows of the batch.
 */
public final class CudaKernels {
    /** Up to this many rows the matrix products take the GEMV kernels (weights streamed once). */
    public static final int GEMV_MAX_ROWS = 8;
    private static final int STATIC_SMEM_LIMIT = 48 * 1024;

    private final CudaContext ctx;

    public CudaKernels(CudaContext ctx) {
        this.ctx = ctx;
    }

    public CudaContext context() {
        return ctx;
    }

    private static Object opt(Optional<DeviceBuffer> b) {
        return b.isPresent() ? b.get() : CudaContext.NULL;
    }

    private static int ceil(long a, int b) {
        long n = (a + b - 1) / b;
        if (n > Integer.MAX_VALUE) throw new IllegalArgumentException("grid too large: " + n);
        return (int) n;
    }

    // ---- quantization ----------------------------------------------------------------------

    /** q (M, K) int8 and scales (M) of x (M, K): per-token absmax. */
    public void quantizeRows(DeviceBuffer x, DeviceBuffer q, DeviceBuffer scales, int M, int K) {
        int cacheK = 4L * K <= STATIC_SMEM_LIMIT ? K : 0;
        ctx.launch(Kernel.QUANTIZE_ROWS, M, 1, 256, 4 * cacheK, x, q, scales, M, K, cacheK);
    }

    /** q (M, K) int8 and scales (M, K/G): absmax per row and group of G columns. */
    public void quantizeGroups(DeviceBuffer x, DeviceBuffer q, DeviceBuffer scales, int M, int K, int G) {
        if (G <= 0 || K % G != 0) throw new IllegalArgumentException("group " + G + " must divide K=" + K);
        ctx.launch(Kernel.QUANTIZE_GROUPS, ceil((long) M * (K / G), 8), 1, 256, 0, x, q, scales, M, K, G);
    }

    // ---- LLM.int8() ---------------------------------------------------------------------------

    /** Sets bit k of flags (ceil(K/32) words, zero before) when |x[:, k]| >= threshold somewhere. */
    public void outlierFlags(DeviceBuffer x, int M, int K, float threshold, DeviceBuffer flags) {
        ctx.launch(Kernel.OUTLIER_FLAGS, ceil(K, 256), Math.min(M, 64), 256, 0, x, M, K, threshold, flags);
    }

    /** cols (K ints) = the flagged columns in order, count (1 int) = how many; clears flags. */
    public void outlierCompact(DeviceBuffer flags, int K, DeviceBuffer cols, DeviceBuffer count) {
        ctx.launch(Kernel.OUTLIER_COMPACT, 1, 1, 1024, 0, flags, K, cols, count);
    }

    /** Per-row int8 of the non-outlier columns (outliers coded 0), scales (M), xo (M, K) = outlier values. */
    public void quantizeMasked(DeviceBuffer x, int M, int K, DeviceBuffer cols, DeviceBuffer count, DeviceBuffer q, DeviceBuffer scales, DeviceBuffer xo) {
        int words = (K + 31) / 32;
        int cacheK = 4L * (K + words) <= STATIC_SMEM_LIMIT ? K : 0;
        ctx.launch(Kernel.QUANTIZE_MASKED, M, 1, 256, 4 * (cacheK + words), x, M, K, cols, count, q, scales, xo, cacheK);
    }

    /**
     * y (M, N) = sw[n] * (sx[m] * q·w + xo·w[:, cols]) + bias: int8 tensor cores (or dp4a for
     * M <= GEMV_MAX_ROWS unless forced). Without outliers (empty) it is plain W8A8 per channel.
     */
    public void int8Matmul(DeviceBuffer q, DeviceBuffer w, DeviceBuffer sx, DeviceBuffer sw, Optional<DeviceBuffer> bias, DeviceBuffer y,
                           int M, int N, int K, Optional<Outliers> outliers, Path path) {
        Object cols = outliers.isPresent() ? outliers.get().cols() : CudaContext.NULL;
        Object count = outliers.isPresent() ? outliers.get().count() : CudaContext.NULL;
        Object xo = outliers.isPresent() ? outliers.get().values() : CudaContext.NULL;
        if (path.gemv(M))
            ctx.launch(Kernel.INT8_GEMV, ceil(N, 8), 1, 256, 0, q, w, sx, sw, opt(bias), y, M, N, K, cols, count, xo);
        else
            ctx.launch(Kernel.INT8_GEMM, ceil(N, 64), ceil(M, 64), 128, 0, q, w, sx, sw, opt(bias), y, M, N, K, cols, count, xo);
    }

    /** The outlier side of LLM.int8(): compact column list, its length, and the (M, K) values. */
    public record Outliers(DeviceBuffer cols, DeviceBuffer count, DeviceBuffer values) {}

    /** Which matrix-product kernel: chosen by rows, or forced (the checks run both). */
    public enum Path {
        AUTO, GEMV, GEMM;

        boolean gemv(int rows) {
            if (this == GEMV && rows > GEMV_MAX_ROWS) throw new IllegalArgumentException("GEMV takes at most " + GEMV_MAX_ROWS + " rows");
            return this == GEMV || (this == AUTO && rows <= GEMV_MAX_ROWS);
        }
    }

    // ---- W8A8 group-wise, W4A16, dense --------------------------------------------------------

    public void w8a8Matmul(DeviceBuffer q, DeviceBuffer w, DeviceBuffer sx, DeviceBuffer sw, Optional<DeviceBuffer> bias, DeviceBuffer y,
                           int M, int N, int K, int G, Path path) {
        if (G % 32 != 0 || K % G != 0) throw new IllegalArgumentException("W8A8 group " + G + " must be a multiple of 32 dividing K=" + K);
        if (path.gemv(M)) ctx.launch(Kernel.W8A8_GEMV, ceil(N, 8), 1, 256, 0, q, w, sx, sw, opt(bias), y, M, N, K, G);
        else ctx.launch(Kernel.W8A8_GEMM, ceil(N, 64), ceil(M, 64), 128, 0, q, w, sx, sw, opt(bias), y, M, N, K, G);
    }

    public void w4a16Matmul(DeviceBuffer x, DeviceBuffer packed, DeviceBuffer scales, DeviceBuffer zeros, Optional<DeviceBuffer> bias, DeviceBuffer y,
                            int M, int N, int K, int G, Path path) {
        if (G % 8 != 0 || K % G != 0) throw new IllegalArgumentException("W4 group " + G + " must be a multiple of 8 dividing K=" + K);
        if (path.gemv(M)) ctx.launch(Kernel.W4A16_GEMV, ceil(N, 8), 1, 256, 0, x, packed, scales, zeros, opt(bias), y, M, N, K, G);
        else ctx.launch(Kernel.W4A16_GEMM, ceil(N, 64), ceil(M, 64), 256, 0, x, packed, scales, zeros, opt(bias), y, M, N, K, G);
    }

    /** Storage of dense weights on the device. */
    public enum DenseType {
        F32(Kernel.GEMV_F32, Kernel.GEMM_F32, Kernel.EMBED_F32, 4),
        BF16(Kernel.GEMV_BF16, Kernel.GEMM_BF16, Kernel.EMBED_BF16, 2),
        F16(Kernel.GEMV_F16, Kernel.GEMM_F16, Kernel.EMBED_F16, 2);

        final Kernel gemv, gemm, embed;
        public final int bytes;

        DenseType(Kernel gemv, Kernel gemm, Kernel embed, int bytes) {
            this.gemv = gemv;
            this.gemm = gemm;
            this.embed = embed;
            this.bytes = bytes;
        }
    }

    public void denseMatmul(DenseType type, DeviceBuffer x, DeviceBuffer w, Optional<DeviceBuffer> bias, DeviceBuffer y, int M, int N, int K, Path path) {
        if (path.gemv(M)) ctx.launch(type.gemv, ceil(N, 8), 1, 256, 0, x, w, opt(bias), y, M, N, K);
        else ctx.launch(type.gemm, ceil(N, 64), ceil(M, 64), 256, 0, x, w, opt(bias), y, M, N, K);
    }

    // ---- the decoder's other steps -------------------------------------------------------------

    /** out (M, D) fp32 = rows ids (M ints on the device, in range) of table. */
    public void embed(DenseType type, DeviceBuffer table, DeviceBuffer ids, DeviceBuffer out, int M, int D) {
        ctx.launch(type.embed, M, 1, 256, 0, table, ids, out, M, D);
    }

    public void rmsnorm(DeviceBuffer x, DeviceBuffer weight, DeviceBuffer out, int M, int D, float eps) {
        ctx.launch(Kernel.RMSNORM, M, 1, 256, 0, x, weight, out, M, D, eps);
    }

    /** In place over x (M, heads * headDim), rotate-half pairs, angle positions[r] * invFreq[i]. */
    public void rope(DeviceBuffer x, DeviceBuffer positions, DeviceBuffer invFreq, int M, int heads, int headDim) {
        if (headDim % 2 != 0) throw new IllegalArgumentException("RoPE needs an even head dimension, not " + headDim);
        ctx.launch(Kernel.ROPE, M, 1, 256, 0, x, positions, invFreq, M, heads, headDim);
    }

    /** Stores k and v rows (M, kvDim) at cache slots (M ints: block * blockSize + offset). */
    public void kvStore(DeviceBuffer k, DeviceBuffer v, DeviceBuffer slots, DeviceBuffer kCache, DeviceBuffer vCache, int M, int kvDim) {
        ctx.launch(Kernel.KV_STORE, M, 1, 256, 0, k, v, slots, kCache, vCache, M, kvDim);
    }

    /**
     * out (M, numHeads * headDim) = causal GQA attention of each row's query over positions
     * [0, positions[r]] of its sequence, whose block table starts at tables[tableOffsets[r]].
     */
    public void attention(DeviceBuffer q, DeviceBuffer kCache, DeviceBuffer vCache, DeviceBuffer tables, DeviceBuffer tableOffsets, DeviceBuffer positions,
                          DeviceBuffer out, int M, int numHeads, int numKvHeads, int headDim, int blockSize) {
        if (headDim > 256) throw new IllegalArgumentException("attention supports head dimensions up to 256, not " + headDim);
        if (numKvHeads <= 0 || numHeads % numKvHeads != 0) throw new IllegalArgumentException(numHeads + " heads do not group over " + numKvHeads + " KV heads");
        ctx.launch(Kernel.ATTENTION, numHeads, M, 128, 0, q, kCache, vCache, tables, tableOffsets, positions, out, M, numHeads, numKvHeads, headDim, blockSize);
    }

    public void siluGate(DeviceBuffer gate, DeviceBuffer up, int n) {
        ctx.launch(Kernel.SILU_GATE, Math.min(ceil(n, 256), 8192), 1, 256, 0, gate, up, n);
    }

    public void add(DeviceBuffer x, DeviceBuffer y, int n) {
        ctx.launch(Kernel.RESIDUAL_ADD, Math.min(ceil(n, 256), 8192), 1, 256, 0, x, y, n);
    }
}
