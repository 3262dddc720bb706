package dev.quantflow.gpu.verify;

import dev.quantflow.gpu.CudaKernels.DenseType;
import dev.quantflow.gpu.CudaKernels.Path;
import dev.quantflow.gpu.WeightPacking.Int4Groups;
import dev.quantflow.gpu.WeightPacking.Int8Channel;
import dev.quantflow.gpu.WeightPacking.Int8Groups;

/**
 * The kernels as host-array functions, so one checker (KernelCheck) can hold any implementation
 * against the float64 Reference: CudaKernelOps runs the real kernels on a card; JavaKernelOps is
 * a plain fp32 Java rendering of the same semantics, which lets CI exercise the checker, its
 * reference and its bounds without a GPU.
 */
public interface KernelOps extends AutoCloseable {
    String name();

    record Int8Rows(byte[] q, float[] scales) {}

    /** LLM.int8's activation side: q with outlier columns 0, per-row scales, and x at the outlier columns (M, cols). */
    record Masked(byte[] q, float[] scales, float[] outlierValues) {}

    /** Dense weights (out, in) as stored: fp32 / bf16 / fp16 little-endian bytes. */
    record DenseWeights(DenseType type, byte[] raw, int out, int in) {}

    /**
     * One attention step: the cache (blocks, blockSize, kvHeads, headDim) already holds history;
     * the rows' new keys/values are stored at their positions first, then each row attends over
     * [0, position]. tables[r] is row r's block table.
     */
    record AttentionCase(int numHeads, int numKvHeads, int headDim, int blockSize, int numBlocks, float[] kCache, float[] vCache,
                         int[][] tables, int[] positions, float[] q, float[] k, float[] v) {
        public int rows() {
            return positions.length;
        }

        public int kvDim() {
            return numKvHeads * headDim;
        }

        public int slot(int r, int pos) {
            return tables[r][pos / blockSize] * blockSize + pos % blockSize;
        }
    }

    Int8Rows quantizeRows(float[] x, int M, int K);

    Int8Rows quantizeGroups(float[] x, int M, int K, int G);

    int[] outlierColumns(float[] x, int M, int K, float threshold);

    Masked quantizeMasked(float[] x, int M, int K, int[] cols);

    /** The whole LLM.int8 linear; threshold +inf = W8A8 per-token x per-channel. */
    float[] llmInt8(float[] x, int M, Int8Channel w, float[] bias, float threshold, Path path);

    float[] w8a8(float[] x, int M, Int8Groups w, float[] bias, Path path);

    float[] dense(float[] x, int M, DenseWeights w, float[] bias, Path path);

    float[] w4a16(float[] x, int M, Int4Groups w, float[] bias, Path path);

    float[] embed(DenseWeights table, int[] ids);

    float[] rmsnorm(float[] x, float[] weight, int M, int D, float eps);

    float[] rope(float[] x, int[] positions, float[] invFreq, int M, int heads, int headDim);

    float[] attention(AttentionCase c);

    float[] siluGate(float[] gate, float[] up);

    float[] add(float[] x, float[] y);

    @Override
    default void close() {}
}
