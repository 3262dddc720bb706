package dev.quantflow.engine.gguf.block;

import dev.quantflow.engine.compute.KernelMemory;
import dev.quantflow.engine.compute.Linear;
import dev.quantflow.engine.compute.PanelMatmul;
import dev.quantflow.engine.compute.Parallel;
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
 * Several rows (prefill, many sequences): a panel of weight rows is decoded once per call into
 * fp32 and every x row passes over it in the dense GEMM's register tile ({@link PanelMatmul}).
 * Weight rows are split over the cores. The view reads the mapping without a liveness check: the WeightStore that maps
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
        PanelMatmul.forward(out, in, in, (o, dst, off) -> dequantize(o * rowBytes, dst, off), null, x, rows, y);
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
