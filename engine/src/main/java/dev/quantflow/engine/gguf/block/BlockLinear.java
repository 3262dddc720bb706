package dev.quantflow.engine.gguf.block;

import dev.quantflow.engine.compute.KernelMemory;
import dev.quantflow.engine.compute.Linear;
import dev.quantflow.engine.compute.Parallel;
import dev.quantflow.engine.compute.VectorMath;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * The loop shared by the GGUF formats: a weight (out, in) stored as ggml stores it, out rows of
 * in / blockSize blocks each, read in place (a view of the file's mapping: resident weight
 * memory is the tensor's bytes). The integer block types meet activations quantized to 8-bit
 * blocks of 32 as ggml's vec_dot does ({@link Q8Activations}); F32/F16/BF16 meet them in fp32
 * (docs/QUANTIZATION.md, "GGUF block formats", has the measurement behind this choice).
 *
 * <p>One row (decode): each weight row is decoded and dotted with x in one pass ({@link #dot}).
 * Several rows (prefill, many sequences): a tile of weight rows is decoded once into an fp32
 * scratch that stays in L2 and every x row is dotted with it, in blocks of four weight rows by
 * two x rows, so each block is decoded once per call whatever the batch. Weight rows are split
 * over the cores. The view reads the mapping without a liveness check: the WeightStore that maps
 * the file must stay open while the Linear is used (as every stage keeps its store open).
 */
abstract class BlockLinear implements Linear {
    static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(LE);
    static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(LE);
    static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(LE);
    // -Dquantflow.gguf.fp32-activations=true feeds fp32 activations instead, here and to the k-quants (SuperBlockLinear): the comparison in docs/QUANTIZATION.md (BlockLinearSpeed)
    static final boolean Q8 = !Boolean.getBoolean("quantflow.gguf.fp32-activations");
    private static final int TILE = 16;   // weight rows decoded together for a batch (16 x 8 KiB for in = 2048)
    private static final ThreadLocal<float[][]> SCRATCH = ThreadLocal.withInitial(() -> new float[1][0]);

    final MemorySegment w;        // the blocks, a global-scope native view (one segment kind for every kernel, see KernelMemory)
    private final MemorySegment owner;
    final int out, in;
    final long rowBytes;

    BlockLinear(MemorySegment blocks, int outFeatures, int inFeatures, int blockSize, int blockBytes) {
        if (outFeatures <= 0 || inFeatures <= 0) throw new IllegalArgumentException("shape " + outFeatures + "x" + inFeatures);
        if (inFeatures % blockSize != 0)
            throw new IllegalArgumentException(scheme() + ": row length " + inFeatures + " is not a multiple of the block size " + blockSize);
        this.out = outFeatures;
        this.in = inFeatures;
        this.rowBytes = (long) inFeatures / blockSize * blockBytes;
        if (blocks.byteSize() != rowBytes * outFeatures)
            throw new IllegalArgumentException(scheme() + ": " + blocks.byteSize() + " bytes for " + outFeatures + "x" + inFeatures + ", expected " + rowBytes * outFeatures);
        KernelMemory.View v = KernelMemory.of(blocks);
        this.w = v.view();
        this.owner = v.owner();
    }

    /** sum_k W[row, k] * x[xo + k], the row's blocks decoded in registers; row starts at byte rowOff of w. */
    abstract float dot(long rowOff, float[] x, int xo);

    /** W[row, 0..in) as floats into dst[off..]. */
    abstract void dequantize(long rowOff, float[] dst, int off);

    @Override
    public final int inFeatures() {
        return in;
    }

    @Override
    public final int outFeatures() {
        return out;
    }

    @Override
    public final long weightBytes() {
        return rowBytes * out;
    }

    /** Whether activations are quantized to 8-bit blocks first (the integer block types). */
    boolean quantizesActivations() {
        return false;
    }

    @Override
    public final void forward(float[] input, int rows, float[] y) {
        if (rows <= 0) return;
        float[] x = quantizesActivations() && Q8 ? Q8Activations.q8_0(input, rows, in) : input;
        if (rows == 1) {
            Parallel.range(out, in, (s, e) -> {
                for (int o = s; o < e; o++) y[o] = dot(o * rowBytes, x, 0);
            });
            return;
        }
        int tiles = (out + TILE - 1) / TILE;
        Parallel.range(tiles, (long) TILE * in * rows, (s, e) -> {
            float[] tile = scratch(TILE * in);
            for (int t = s; t < e; t++) {
                int o0 = t * TILE, n = Math.min(TILE, out - o0);
                for (int i = 0; i < n; i++) dequantize((o0 + i) * rowBytes, tile, i * in);
                int r = 0;
                for (; r + 2 <= rows && n == TILE; r += 2)
                    for (int i = 0; i < n; i += 4) dot4x2(tile, i * in, x, r * in, y, r * out + o0 + i);
                for (; r < rows; r++) {
                    int xo = r * in, yo = r * out + o0, i = 0;
                    for (; i + 4 <= n; i += 4) dot4(tile, i * in, x, xo, y, yo + i);
                    for (; i < n; i++) y[yo + i] = VectorMath.dot(tile, i * in, x, xo, in);
                }
            }
        });
    }

    /** y[yo..yo+4) = the four tile rows from to (each in long) dotted with x[xo..]: x is loaded once for four rows. */
    private void dot4(float[] tile, int to, float[] x, int xo, float[] y, int yo) {
        FloatVector s0 = FloatVector.zero(F), s1 = s0, s2 = s0, s3 = s0;
        int L = F.length(), k = 0;
        for (; k <= in - L; k += L) {
            FloatVector xv = FloatVector.fromArray(F, x, xo + k);
            s0 = FloatVector.fromArray(F, tile, to + k).fma(xv, s0);
            s1 = FloatVector.fromArray(F, tile, to + in + k).fma(xv, s1);
            s2 = FloatVector.fromArray(F, tile, to + 2 * in + k).fma(xv, s2);
            s3 = FloatVector.fromArray(F, tile, to + 3 * in + k).fma(xv, s3);
        }
        float a0 = VectorMath.sumLanes(s0), a1 = VectorMath.sumLanes(s1), a2 = VectorMath.sumLanes(s2), a3 = VectorMath.sumLanes(s3);
        for (; k < in; k++) {
            float xk = x[xo + k];
            a0 += tile[to + k] * xk;
            a1 += tile[to + in + k] * xk;
            a2 += tile[to + 2 * in + k] * xk;
            a3 += tile[to + 3 * in + k] * xk;
        }
        y[yo] = a0;
        y[yo + 1] = a1;
        y[yo + 2] = a2;
        y[yo + 3] = a3;
    }

    /**
     * The 2x4 block of y at yo (rows yo and yo + out; columns yo..yo+3): four tile rows from to
     * dotted with two x rows from xo. 6 loads feed 8 FMAs (dot4: 5 loads, 4 FMAs).
     */
    private void dot4x2(float[] tile, int to, float[] x, int xo, float[] y, int yo) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
        int L = F.length(), k = 0;
        for (; k <= in - L; k += L) {
            FloatVector x0 = FloatVector.fromArray(F, x, xo + k), x1 = FloatVector.fromArray(F, x, xo + in + k);
            FloatVector w = FloatVector.fromArray(F, tile, to + k);
            a0 = w.fma(x0, a0);
            b0 = w.fma(x1, b0);
            w = FloatVector.fromArray(F, tile, to + in + k);
            a1 = w.fma(x0, a1);
            b1 = w.fma(x1, b1);
            w = FloatVector.fromArray(F, tile, to + 2 * in + k);
            a2 = w.fma(x0, a2);
            b2 = w.fma(x1, b2);
            w = FloatVector.fromArray(F, tile, to + 3 * in + k);
            a3 = w.fma(x0, a3);
            b3 = w.fma(x1, b3);
        }
        y[yo] = VectorMath.sumLanes(a0) + tail(tile, to, x, xo, k);
        y[yo + 1] = VectorMath.sumLanes(a1) + tail(tile, to + in, x, xo, k);
        y[yo + 2] = VectorMath.sumLanes(a2) + tail(tile, to + 2 * in, x, xo, k);
        y[yo + 3] = VectorMath.sumLanes(a3) + tail(tile, to + 3 * in, x, xo, k);
        y[yo + out] = VectorMath.sumLanes(b0) + tail(tile, to, x, xo + in, k);
        y[yo + out + 1] = VectorMath.sumLanes(b1) + tail(tile, to + in, x, xo + in, k);
        y[yo + out + 2] = VectorMath.sumLanes(b2) + tail(tile, to + 2 * in, x, xo + in, k);
        y[yo + out + 3] = VectorMath.sumLanes(b3) + tail(tile, to + 3 * in, x, xo + in, k);
    }

    private float tail(float[] tile, int to, float[] x, int xo, int from) {
        float s = 0;
        for (int k = from; k < in; k++) s += tile[to + k] * x[xo + k];
        return s;
    }

    /** A per-thread fp32 scratch of at least n floats. */
    static float[] scratch(int n) {
        float[][] s = SCRATCH.get();
        if (s[0].length < n) s[0] = new float[n];
        return s[0];
    }

    /** The f16 at byte off of w as a float. */
    final float f16(long off) {
        return Float.float16ToFloat(w.get(I16, off));
    }

    @Override
    public String toString() {
        return scheme() + "[" + out + "x" + in + "]";
    }
}
