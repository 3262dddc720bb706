package dev.quantflow.engine.quant;

import dev.quantflow.engine.compute.Parallel;
import dev.quantflow.engine.model.Tensor;
import java.util.Arrays;

/**
 * A (rows, cols) matrix of integer codes with a scale and zero point per (row, group): per-tensor
 * (one shared pair), per-channel / per-token (one group per row) or group-wise. Codes are
 * unpacked, one per byte; packing into nibbles is the storage formats' business.
 */
public record QuantizedMatrix(IntRange range, int rows, int cols, GroupLayout layout, byte[] q, float[] scales, byte[] zeros) {

    public QuantizedMatrix {
        if (q.length != rows * cols) throw new IllegalArgumentException("codes length " + q.length + " != " + rows + "x" + cols);
        if (scales.length != rows * layout.groups() || zeros.length != scales.length)
            throw new IllegalArgumentException("need one scale and zero point per (row, group)");
    }

    /** Quantizes each (row, group) of w (rows, cols) with its own range. groupSize >= cols means per row. */
    public static QuantizedMatrix quantize(float[] w, int rows, int cols, IntRange r, int groupSize, RangeMethod method) {
        return quantizeRows(rows, cols, r, groupSize, method, (row, buf) -> row * cols, w, null);
    }

    /**
     * The same from a stored 2-D tensor, streamed: each thread widens one row at a time into its own
     * buffer (BF16 in registers), so no fp32 copy of the matrix is ever made.
     */
    public static QuantizedMatrix quantize(Tensor w, IntRange r, int groupSize, RangeMethod method) {
        if (w.shape().length != 2) throw new IllegalArgumentException(w + " is not a matrix");
        int rows = w.rows(), cols = w.cols();
        return quantizeRows(rows, cols, r, groupSize, method, (row, buf) -> {
            w.readFloats((long) row * cols, buf, 0, cols);
            return 0;
        }, null, w);
    }

    private static final int UNLOAD_ROWS = 64;

    /** Where row's values are: fills buf (a thread's row buffer, or the heap matrix itself) and returns their offset in it. */
    private interface RowReader {
        int read(int row, float[] buf);
    }

    /** Takes one row's codes (in codes[0 .. cols), a thread's buffer, reused for its next row). */
    interface RowSink {
        void accept(int row, byte[] codes);
    }

    private static QuantizedMatrix quantizeRows(int rows, int cols, IntRange r, int groupSize, RangeMethod method,
                                                RowReader reader, float[] heap, Tensor source) {
        GroupLayout g = new GroupLayout(cols, groupSize);
        byte[] q = new byte[rows * cols];
        float[] scales = new float[rows * g.groups()];
        byte[] zeros = new byte[rows * g.groups()];
        quantizeRows(rows, cols, r, g, method, reader, heap, source, scales, zeros, q, null);
        return new QuantizedMatrix(r, rows, cols, g, q, scales, zeros);
    }

    /**
     * The rows of a stored matrix quantized as {@link #quantize(Tensor, IntRange, int, RangeMethod)}
     * does, each row's codes handed to sink instead of kept (a packed format packs them as they come);
     * scales and zeros (rows x groups) are filled.
     */
    static void quantizeRows(Tensor w, IntRange r, GroupLayout g, RangeMethod method, float[] scales, byte[] zeros, RowSink sink) {
        int cols = w.cols();
        quantizeRows(w.rows(), cols, r, g, method, (row, buf) -> {
            w.readFloats((long) row * cols, buf, 0, cols);
            return 0;
        }, null, w, scales, zeros, null, sink);
    }

    /** Into q (rows x cols) when sink is null, else row by row into sink. */
    private static void quantizeRows(int rows, int cols, IntRange r, GroupLayout g, RangeMethod method, RowReader reader, float[] heap, Tensor source,
                                     float[] scales, byte[] zeros, byte[] q, RowSink sink) {
        int ng = g.groups();
        // rows are independent: quantized on all cores (a 1.1B model's load quantizes 1e9 weights)
        Parallel.range(rows, 4L * cols, (first, last) -> {
            float[] buf = heap != null ? heap : new float[cols];
            byte[] codes = sink == null ? q : new byte[cols];
            int done = first;
            for (int row = first; row < last; row++) {
                int base = reader.read(row, buf), at = sink == null ? row * cols : 0;
                for (int k = 0; k < ng; k++) {
                    int s = base + g.start(k), e = base + g.end(k);
                    float[] lohi = method.range(buf, s, e, r);
                    IntRange.QParams p = r.params(lohi[0], lohi[1]);
                    scales[row * ng + k] = p.scale();
                    zeros[row * ng + k] = (byte) p.zero();
                    r.quantize(buf, s, e, p, codes, at + g.start(k));
                }
                if (sink != null) sink.accept(row, codes);
                // a mapped source's rows are read once: their pages leave resident memory as they are done
                if (source != null && (row + 1 - done == UNLOAD_ROWS || row == last - 1)) {
                    source.unloadRows(done, row + 1 - done);
                    done = row + 1;
                }
            }
        });
    }

    /** One range for the whole matrix (the naive baseline that a single outlier ruins). */
    public static QuantizedMatrix quantizePerTensor(float[] w, int rows, int cols, IntRange r, RangeMethod method) {
        float[] lohi = method.range(w, 0, w.length, r);
        IntRange.QParams p = r.params(lohi[0], lohi[1]);
        byte[] q = new byte[rows * cols];
        for (int i = 0; i < q.length; i++) q[i] = (byte) r.quantize(w[i], p);
        float[] scales = new float[rows];
        byte[] zeros = new byte[rows];
        Arrays.fill(scales, p.scale());
        Arrays.fill(zeros, (byte) p.zero());
        return new QuantizedMatrix(r, rows, cols, GroupLayout.perRow(cols), q, scales, zeros);
    }

    public int groups() {
        return layout.groups();
    }

    public float scale(int row, int group) {
        return scales[row * layout.groups() + group];
    }

    public int zero(int row, int group) {
        return zeros[row * layout.groups() + group];
    }

    public int code(int row, int col) {
        return q[row * cols + col];
    }

    public float dequantize(int row, int col) {
        int g = col / layout.groupSize();
        return (q[row * cols + col] - zero(row, g)) * scale(row, g);
    }

    public float[] dequantize() {
        float[] w = new float[rows * cols];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) w[r * cols + c] = dequantize(r, c);
        return w;
    }

    /** Resident bytes when stored compactly: codes at bits each, fp32 scales, zero points (asymmetric only). */
    public long packedBytes() {
        long codes = range.bits() == 8 ? (long) rows * cols : (long) rows * ((cols + 1) / 2);
        return codes + 4L * scales.length + (range.symmetric() ? 0 : zeros.length);
    }
}
