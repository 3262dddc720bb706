package dev.quantflow.engine.gguf.block;

import dev.quantflow.engine.compute.KernelMemory;
import dev.quantflow.engine.compute.Linear;
import java.lang.foreign.MemorySegment;

/**
 * GGUF Q8_0: blocks of 32 weights, 34 bytes, as ggml's block_q8_0:
 * <pre>
 * typedef struct {
 *     ggml_half d;       // scale
 *     int8_t    qs[32];  // quants
 * } block_q8_0;          // w[j] = d * qs[j]
 * </pre>
 * Unlike the other block types (BlockLinear, read in place), the blocks are repacked once at load
 * into {@link Q8_0Kernels}' layout (same size: rows interleaved in vector lanes, the f16 scales
 * beside them) in native memory, and the file's pages of the tensor are dropped from the process
 * (unload), so resident memory stays at the packed size. Why: the in-place loop, one 34-byte
 * block of one row at a time with a horizontal sum per row, decoded at 12.3 tok/s on the 1.1B
 * shape where llama.cpp's Q8_0 runs at 21.3 (docs/BENCHMARKS.md, "Q8_0 kernel (h-q8i)").
 * Activations are rounded to q8_0 blocks of 32 as ggml's vec_dot does ({@link Q8Activations}),
 * and the integer block sums are exact.
 */
public final class Q8_0Linear implements Linear {
    static final int BLOCK = Q8_0Kernels.BLOCK, BYTES = Q8_0Kernels.BYTES;

    private final MemorySegment w;       // pack's layout, a global-scope native view (see KernelMemory)
    private final MemorySegment owner;   // keeps w's memory alive
    private final int out, in;

    /** blocks: ggml's row-major Q8_0 bytes; if they are a file mapping, their pages are unloaded after the copy. */
    public Q8_0Linear(MemorySegment blocks, int outFeatures, int inFeatures) {
        if (outFeatures <= 0 || inFeatures <= 0) throw new IllegalArgumentException("shape " + outFeatures + "x" + inFeatures);
        if (inFeatures % BLOCK != 0)
            throw new IllegalArgumentException("Q8_0: row length " + inFeatures + " is not a multiple of the block size " + BLOCK);
        long bytes = (long) outFeatures * (inFeatures / BLOCK) * BYTES;
        if (blocks.byteSize() != bytes)
            throw new IllegalArgumentException("Q8_0: " + blocks.byteSize() + " bytes for " + outFeatures + "x" + inFeatures + ", expected " + bytes);
        this.out = outFeatures;
        this.in = inFeatures;
        KernelMemory.View v = KernelMemory.weights(bytes);
        Q8_0Kernels.pack(blocks, v.view(), out, in);
        this.w = v.view();
        this.owner = v.owner();
        if (blocks.isMapped()) blocks.unload();
    }

    @Override
    public int inFeatures() {
        return in;
    }

    @Override
    public int outFeatures() {
        return out;
    }

    @Override
    public long weightBytes() {
        return (long) out * (in / BLOCK) * BYTES;
    }

    @Override
    public void forward(float[] x, int rows, float[] y) {
        forward(x, rows, y, Q8_0Kernels.MAX_TILED_ROWS);
    }

    /** forward with Q8_0Kernels' row tiles up to tiledRows rows (1: the batched path before them, which benchmarks compare against). */
    public void forward(float[] x, int rows, float[] y, int tiledRows) {
        if (rows <= 0) return;
        float[] dx = new float[rows * (in / BLOCK)], xq;
        if (BlockLinear.Q8) {
            xq = Q8Activations.q8_0Codes(x, rows, in, dx);
        } else {   // the fp32-activation comparison (BlockLinear.Q8): x as it is, unit scales
            xq = x;
            java.util.Arrays.fill(dx, 1f);
        }
        Q8_0Kernels.matmul(w, out, in, xq, dx, rows, y, tiledRows, BlockLinear.Q8);
    }

    @Override
    public String scheme() {
        return "Q8_0";
    }

    @Override
    public String toString() {
        return "Q8_0[" + out + "x" + in + "]";
    }
}
