package dev.quantflow.engine.compute;

import dev.quantflow.engine.model.DType;
import dev.quantflow.engine.model.Tensor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * An unquantized linear layer over F32, BF16 or F16 weights (out, in). At construction the
 * weights are copied once, in their own dtype, into panels of {@link PanelKernels#P} output rows
 * stored k-major (see PanelKernels for why); the mapped file is not read after that. F32 panels
 * are read as they are; BF16 is widened in registers for one row; for a batch, and for F16, a
 * block of panels is decoded to f32 once and reused for every row of the batch.
 */
public final class DenseLinear implements Linear {
    private static final int P = PanelKernels.P;
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    private static final ValueLayout.OfShort I16_LE = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(LE);
    private static final ValueLayout.OfFloat F32_LE = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(LE);

    private final MemorySegment w;      // panels, k-major inside a panel (see KernelMemory for the segment kind)
    private final MemorySegment owner;  // keeps w's memory alive
    private final DType dtype;
    private final int in, out, panels;
    private final float[] bias;         // (out) or null
    private final float[] b;            // (panels * P): bias, or zeros, padded

    public DenseLinear(Tensor weight, float[] bias) {
        if (weight.shape().length != 2) throw new IllegalArgumentException(weight + " is not a matrix");
        this.dtype = weight.dtype();
        if (dtype != DType.F32 && dtype != DType.BF16 && dtype != DType.F16)
            throw new IllegalArgumentException(weight + ": dense weights must be F32, BF16 or F16");
        this.out = (int) weight.shape()[0];
        this.in = (int) weight.shape()[1];
        if (bias != null && bias.length != out) throw new IllegalArgumentException(weight + ": bias has " + bias.length + " values, expected " + out);
        this.bias = bias;
        this.panels = (out + P - 1) / P;
        this.b = new float[panels * P];
        if (bias != null) System.arraycopy(bias, 0, b, 0, out);
        KernelMemory.View packed = KernelMemory.weights((long) panels * P * in * dtype.bytes);
        this.owner = packed.owner();
        this.w = packed.view();
        pack(weight);
        // the packed copy is what is read from now on: let the kernel drop the mapped pages from
        // this process's resident memory (they fault back in if the tensor is read again, e.g. a
        // tied embedding)
        if (weight.data().isMapped()) weight.data().unload();
    }

    /** An F32 matrix (out, in) from the heap, e.g. after a function-preserving transform. */
    public static DenseLinear ofF32(float[] weight, int out, int in, float[] bias) {
        return new DenseLinear(new Tensor("heap", DType.F32, new long[] {out, in}, MemorySegment.ofArray(weight)), bias);
    }

    /** Row-major (out, in) little-endian src -> panels; rows past out stay zero. */
    private void pack(Tensor weight) {
        MemorySegment src = weight.data();
        int size = dtype.bytes;
        Parallel.range(panels, (long) P * in, (start, end) -> {
            if (size == 4) {
                float[] row = new float[in], panel = new float[P * in];
                for (int p = start; p < end; p++) {
                    Arrays.fill(panel, 0f);
                    for (int j = 0; j < P && p * P + j < out; j++) {
                        MemorySegment.copy(src, F32_LE, (long) (p * P + j) * in * 4, row, 0, in);
                        for (int k = 0; k < in; k++) panel[k * P + j] = row[k];
                    }
                    MemorySegment.copy(panel, 0, w, F32_LE, (long) p * P * in * 4, P * in);
                    weight.unloadRows((long) p * P, valid(p));   // packed: its source pages go now, not at the end
                }
            } else {
                short[] row = new short[in], panel = new short[P * in];
                for (int p = start; p < end; p++) {
                    Arrays.fill(panel, (short) 0);
                    for (int j = 0; j < P && p * P + j < out; j++) {
                        MemorySegment.copy(src, I16_LE, (long) (p * P + j) * in * 2, row, 0, in);
                        for (int k = 0; k < in; k++) panel[k * P + j] = row[k];
                    }
                    MemorySegment.copy(panel, 0, w, I16_LE, (long) p * P * in * 2, P * in);
                    weight.unloadRows((long) p * P, valid(p));
                }
            }
        });
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

    /** Valid outputs of panel p. */
    private int valid(int p) {
        return Math.min(P, out - p * P);
    }

    /** Panels per block for a batch: a block of f32 panels that stays in L2 while every row passes. */
    private int blockPanels() {
        return (int) Math.max(1, Math.min(8, 128 * 1024 / (4L * P * in)));
    }

    /** Reads each weight once per call: a block of panels is used for every x row while it is in cache. */
    @Override
    public void forward(float[] x, int rows, float[] y) {
        if (rows <= 0) return;
        if (rows == 1 && dtype != DType.F16) {
            Parallel.range((panels + 1) / 2, 2L * P * in, (start, end) -> {
                for (int pair = start; pair < end; pair++) row1(x, y, 2 * pair);
            });
            return;
        }
        int bp = blockPanels();
        Parallel.range((panels + bp - 1) / bp, (long) bp * P * in * rows, (start, end) -> {
            for (int blk = start; blk < end; blk++) {
                int p0 = blk * bp, p1 = Math.min(panels, p0 + bp);
                if (dtype == DType.F32) {
                    block(w, (long) p0 * P * in * 4, x, rows, y, p0, p1);
                } else {
                    MemorySegment scratch = KernelMemory.scratch(4L * (p1 - p0) * P * in);
                    decode((long) p0 * P * in, (p1 - p0) * P * in, scratch);
                    block(scratch, 0, x, rows, y, p0, p1);
                }
            }
        });
    }

    /** One row, panels p and p + 1 (if there is one). */
    private void row1(float[] x, float[] y, int p) {
        long panelBytes = (long) P * in * dtype.bytes, base = p * panelBytes;
        boolean pair = p + 1 < panels;
        if (dtype == DType.F32) {
            if (pair) PanelKernels.row1x2(w, base, in, x, y, b, p * P, valid(p + 1));
            else PanelKernels.rows(w, base, in, x, 0, 1, y, p * P, out, b, p * P, valid(p));
        } else {
            if (pair) PanelKernels.row1x2BF16(w, base, in, x, y, b, p * P, valid(p + 1));
            else PanelKernels.row1BF16(w, base, in, x, y, b, p * P, valid(p));
        }
    }

    /** F32 panels [p0, p1) starting at byte base of seg, for all x rows. */
    private void block(MemorySegment seg, long base, float[] x, int rows, float[] y, int p0, int p1) {
        long panelBytes = 4L * P * in;
        for (int p = p0; p < p1; p++) {
            long pb = base + (p - p0) * panelBytes;
            int o = p * P, n = valid(p);
            PanelKernels.panel(seg, pb, in, x, rows, y, out, b, o, n);
        }
    }

    /** count packed weights from element first, widened to little-endian f32 into dst. */
    private void decode(long first, int count, MemorySegment dst) {
        if (dtype == DType.BF16) {
            VectorMath.decodeBF16(w, 2 * first, dst, 0, count);
        } else {
            for (int i = 0; i < count; i++) dst.set(KernelMemory.F32, 4L * i, Float.float16ToFloat(w.get(I16_LE, 2 * (first + i))));
        }
    }
}
