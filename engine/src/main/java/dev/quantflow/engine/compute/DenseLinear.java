package dev.quantflow.engine.compute;

import dev.quantflow.engine.model.DType;
import dev.quantflow.engine.model.Tensor;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

/**
 * An unquantized linear layer over F32, BF16 or F16 weights (out, in), read in place from the
 * (memory-mapped or heap) segment. BF16 is widened in registers; F16 is decoded per row.
 */
public final class DenseLinear implements Linear {
    private final MemorySegment w;   // (out, in) row-major
    private final DType dtype;
    private final int in, out;
    private final float[] bias;      // (out) or null

    public DenseLinear(Tensor weight, float[] bias) {
        if (weight.shape().length != 2) throw new IllegalArgumentException(weight + " is not a matrix");
        this.w = weight.data();
        this.dtype = weight.dtype();
        this.out = (int) weight.shape()[0];
        this.in = (int) weight.shape()[1];
        this.bias = bias;
        if (dtype != DType.F32 && dtype != DType.BF16 && dtype != DType.F16)
            throw new IllegalArgumentException(weight + ": dense weights must be F32, BF16 or F16");
    }

    /** A heap F32 matrix (out, in), e.g. after a function-preserving transform. */
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

    @Override
    public void forward(float[] x, int rows, float[] y) {
        Parallel.range(out, (long) in * rows, (start, end) -> {
            float[] row = dtype == DType.F32 || (dtype == DType.BF16 && rows == 1) ? null : new float[in];
            for (int o = start; o < end; o++) {
                long off = (long) o * in * dtype.bytes;
                float b = bias == null ? 0f : bias[o];
                if (row == null) {
                    for (int r = 0; r < rows; r++)
                        y[r * out + o] = b + (dtype == DType.F32
                                ? VectorMath.dotF32(w, off, x, r * in, in)
                                : VectorMath.dotBF16(w, off, x, r * in, in));
                } else {
                    decodeRow(off, row);
                    for (int r = 0; r < rows; r++) y[r * out + o] = b + VectorMath.dot(row, 0, x, r * in, in);
                }
            }
        });
    }

    private void decodeRow(long off, float[] row) {
        if (dtype == DType.BF16) {
            VectorMath.decodeBF16(w, off, row, in);
        } else {
            for (int i = 0; i < in; i++)
                row[i] = Float.float16ToFloat(w.get(java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), off + 2L * i));
        }
    }
}
