package dev.quantflow.engine.compute;

import dev.quantflow.engine.model.DType;
import dev.quantflow.engine.model.Tensor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * An unquantized linear layer over F32, BF16 or F16 weights (out, in), read in place from the
 * memory-mapped segment (heap weights are copied off-heap once, see KernelMemory). BF16 is
 * widened in registers for one row; for a batch, and for F16, a block of rows is decoded to f32
 * once and reused for every row of the batch.
 */
public final class DenseLinear implements Linear {
    private final MemorySegment w;   // (out, in) row-major; a uniform native view (see KernelMemory)
    private final MemorySegment owner;
    private final DType dtype;
    private final int in, out;
    private final float[] bias;      // (out) or null
    private final float[] b;         // (out): bias, or zeros
    private static final ValueLayout.OfShort I16_LE = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    public DenseLinear(Tensor weight, float[] bias) {
        if (weight.shape().length != 2) throw new IllegalArgumentException(weight + " is not a matrix");
        KernelMemory.View v = KernelMemory.uniform(weight.data());
        this.w = v.view();
        this.owner = v.owner();
        this.dtype = weight.dtype();
        this.out = (int) weight.shape()[0];
        this.in = (int) weight.shape()[1];
        this.bias = bias;
        this.b = bias != null ? bias : new float[out];
        if (bias != null && bias.length != out) throw new IllegalArgumentException(weight + ": bias has " + bias.length + " values, expected " + out);
        if (dtype != DType.F32 && dtype != DType.BF16 && dtype != DType.F16)
            throw new IllegalArgumentException(weight + ": dense weights must be F32, BF16 or F16");
    }

    /** An F32 matrix (out, in) from the heap (copied off-heap), e.g. after a function-preserving transform. */
    public static DenseLinear ofF32(float[] weight, int out, int in, float[] bias) {
        return new DenseLinear(new Tensor("heap", DType.F32, new long[] {out, in}, MemorySegment.ofArray(weight)), bias);
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
        return w.byteSize() + (bias == null ? 0 : 4L * bias.length);
    }

    @Override
    public String scheme() {
        return dtype == DType.F32 ? "fp32" : dtype.name().toLowerCase();
    }

    /** Output rows per block: the unit of thread splitting and of cache reuse across x rows. */
    private int blockOuts(int rows) {
        if (rows == 1 && dtype != DType.F16) return 4 * Math.max(1, Math.min(64, (out / 4 + 15) / 16));
        long target = 128 * 1024 / (4L * in);   // a block of decoded f32 weight rows that stays in L2
        return (int) Math.max(4, Math.min(256, target & ~3L));
    }

    /**
     * Reads each weight once per call: a block of output rows is computed for every x row while
     * it is in cache (BF16/F16 decoded to f32 once per block when there are several rows).
     */
    @Override
    public void forward(float[] x, int rows, float[] y) {
        if (rows <= 0) return;
        if (!owner.scope().isAlive()) throw new IllegalStateException("the weights of this layer were closed");
        int bo = blockOuts(rows);
        int blocks = (out + bo - 1) / bo;
        Parallel.range(blocks, (long) bo * in * rows, (start, end) -> {
            for (int blk = start; blk < end; blk++) {
                int o0 = blk * bo, o1 = Math.min(out, o0 + bo);
                if (dtype == DType.F32) {
                    block(w, (long) o0 * in * 4, x, rows, y, o0, o1);
                } else if (dtype == DType.BF16 && rows == 1) {
                    blockBF16Row(x, y, o0, o1);
                } else {
                    MemorySegment scratch = KernelMemory.scratch(4L * (o1 - o0) * in);
                    decodeRows(o0, o1, scratch);
                    block(scratch, 0, x, rows, y, o0, o1);
                }
            }
        });
    }

    /** F32 weight rows [o0, o1) starting at byte base of seg, for all x rows. */
    private void block(MemorySegment seg, long base, float[] x, int rows, float[] y, int o0, int o1) {
        long stride = 4L * in;
        int quads = o0 + (o1 - o0) / 4 * 4;
        int r = 0;
        for (; r + 4 <= rows; r += 4) {
            for (int o = o0; o + 2 <= o1; o += 2)
                DenseKernels.r4o2F32(seg, base + (o - o0) * stride, stride, x, r * in, in, y, r * out + o, out, b, o);
            if ((o1 - o0) % 2 != 0)
                for (int rr = r; rr < r + 4; rr++)
                    DenseKernels.r1o1F32(seg, base + (o1 - 1 - o0) * stride, x, rr * in, in, y, rr * out + o1 - 1, b[o1 - 1]);
        }
        for (; r < rows; r++) {
            for (int o = o0; o < quads; o += 4)
                DenseKernels.r1o4F32(seg, base + (o - o0) * stride, stride, x, r * in, in, y, r * out + o, b, o);
            for (int o = quads; o < o1; o++)
                DenseKernels.r1o1F32(seg, base + (o - o0) * stride, x, r * in, in, y, r * out + o, b[o]);
        }
    }

    private void blockBF16Row(float[] x, float[] y, int o0, int o1) {
        long stride = 2L * in;
        int quads = o0 + (o1 - o0) / 4 * 4;
        for (int o = o0; o < quads; o += 4) DenseKernels.r1o4BF16(w, o * stride, stride, x, 0, in, y, o, b, o);
        for (int o = quads; o < o1; o++) DenseKernels.r1o1BF16(w, o * stride, x, 0, in, y, o, b[o]);
    }

    /** Weight rows [o0, o1) as little-endian f32 into dst (row-major, in per row). */
    private void decodeRows(int o0, int o1, MemorySegment dst) {
        for (int o = o0; o < o1; o++) {
            long off = (long) o * in * dtype.bytes, d = 4L * (o - o0) * in;
            if (dtype == DType.BF16) {
                VectorMath.decodeBF16(w, off, dst, d, in);
            } else {
                for (int i = 0; i < in; i++) dst.set(KernelMemory.F32, d + 4L * i, Float.float16ToFloat(w.get(I16_LE, off + 2L * i)));
            }
        }
    }
}
