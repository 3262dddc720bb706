package dev.quantflow.engine.quant;

import dev.quantflow.engine.compute.Int8Kernels;
import dev.quantflow.engine.compute.Linear;
import dev.quantflow.engine.compute.PanelMatmul;
import dev.quantflow.engine.compute.Parallel;
import dev.quantflow.engine.compute.RowDecodable;
import dev.quantflow.engine.compute.VectorMath;
import dev.quantflow.engine.model.Tensor;

/**
 * W8A16: weight-only int8, one scale per output channel, activations stay fp32. Decode reads one
 * byte per weight (a quarter of fp32, half of bf16) and dequantizes in registers, eight weight
 * rows per activation load (the codes are held in Int8Kernels.interleave8's layout, converted
 * once here); a few rows (the decode steps of several sequences) widen each block once for a
 * tile of rows (decodeRows); more rows decode a panel of weight rows at a time and run the dense
 * fp32 tile over it (PanelMatmul.forwardChained); both sum in the one-row kernel's order, so a
 * row's output bits do not depend on the rows batched with it.
 */
public final class Int8Linear implements RowDecodable {
    private final int out, in;
    private final byte[] q;        // (out, in) symmetric codes, Int8Kernels.interleave8 layout
    private final float[] scale;   // (out)
    private final float[] bias;    // (out) or null

    /** Over a copy of m's codes (m stays as it is). */
    public Int8Linear(QuantizedMatrix m, float[] bias) {
        this(m, bias, false);
    }

    private Int8Linear(QuantizedMatrix m, float[] bias, boolean adopt) {
        if (m.range() != IntRange.INT8_SYM || !m.layout().perRowOnly())
            throw new IllegalArgumentException("W8A16 needs symmetric int8 codes with one scale per output channel");
        this.out = m.rows();
        this.in = m.cols();
        if (adopt) Int8Kernels.interleave8InPlace(m.q(), out, in);
        this.q = adopt ? m.q() : Int8Kernels.interleave8(m.q(), out, in);
        this.scale = m.scales();
        this.bias = bias;
    }

    /**
     * Over m's own code array, reordered in place into the kernel's layout: for codes made for this
     * linear alone (quantized at load, read from a checkpoint), which must not be read as
     * row-major after this. Saves a copy of every matrix at load.
     */
    public static Int8Linear adopting(QuantizedMatrix m, float[] bias) {
        return new Int8Linear(m, bias, true);
    }

    /**
     * Over codes already in the kernel's layout (Int8Kernels.interleave8 at this JVM's block()), as
     * a quantize output stores them: adopted as they are, no reordering (a stored model's load is a read).
     */
    public static Int8Linear ofInterleaved(int out, int in, byte[] interleaved, float[] scale, float[] bias) {
        if (interleaved.length != out * in || scale.length != out)
            throw new IllegalArgumentException("W8A16 " + out + "x" + in + " needs " + out * in + " codes and " + out + " scales, got " + interleaved.length + " and " + scale.length);
        return new Int8Linear(out, in, interleaved, scale, bias);
    }

    private Int8Linear(int out, int in, byte[] q, float[] scale, float[] bias) {
        this.out = out;
        this.in = in;
        this.q = q;
        this.scale = scale;
        this.bias = bias;
    }

    /** The codes as held (Int8Kernels.interleave8 layout), for a writer that stores the kernel's bytes; not a copy. */
    byte[] interleavedCodes() {
        return q;
    }

    float[] scales() {
        return scale;
    }

    /**
     * Round-to-nearest int8 of a stored (out, in) matrix, streamed: each thread widens and quantizes
     * one row at a time and writes its codes straight to their places in the kernel's layout (no
     * row-major codes of the matrix, no second pass to reorder them).
     */
    public static Int8Linear quantize(Tensor w, float[] bias) {
        int out = w.rows(), in = w.cols();
        byte[] q = new byte[out * in];
        float[] scale = new float[out];
        QuantizedMatrix.quantizeRows(w, IntRange.INT8_SYM, GroupLayout.perRow(in), RangeMethod.MIN_MAX, scale, new byte[out], (o, codes) -> scatter(codes, o, q, out, in));
        return new Int8Linear(out, in, q, scale, bias);
    }

    /** Row o's row-major codes into their places in interleave8's layout (Int8Kernels.interleavedIndex, block by block). */
    private static void scatter(byte[] codes, int o, byte[] q, int out, int in) {
        int R = Int8Kernels.ROWS, K = Int8Kernels.block();
        for (int ch = 0; ch < Int8Kernels.chunks(in); ch++) {
            int c0 = ch * Int8Kernels.CHUNK, n = Int8Kernels.chunkColumns(ch, in), at = Int8Kernels.interleavedIndex(o, c0, out, in);
            if (o >= out / R * R) {   // a leftover row: row-major within its chunk
                System.arraycopy(codes, c0, q, at, n);
                continue;
            }
            int full = n / K * K;
            for (int c = 0; c < full; c += K, at += R * K) System.arraycopy(codes, c0 + c, q, at, K);
            if (full < n) System.arraycopy(codes, c0 + full, q, Int8Kernels.interleavedIndex(o, c0 + full, out, in), n - full);
        }
    }

    public static Int8Linear quantize(float[] w, int out, int in, float[] bias) {
        return adopting(QuantizedMatrix.quantize(w, out, in, IntRange.INT8_SYM, in, RangeMethod.MIN_MAX), bias);
    }

    public QuantizedMatrix weights() {
        return new QuantizedMatrix(IntRange.INT8_SYM, out, in, GroupLayout.perRow(in), Int8Kernels.deinterleave8(q, out, in), scale, new byte[out]);
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
        return q.length + 4L * scale.length + (bias == null ? 0 : 4L * bias.length);
    }

    @Override
    public String scheme() {
        return "w8a16";
    }

    @Override
    public void decodeRow(int row, float[] dst, int off) {
        Int8Kernels.dequantizeInterleaved(q, row, out, in, scale[row], dst, off);
    }

    @Override
    public void forward(float[] x, int rows, float[] y) {
        if (rows == 1) {
            decode(x, y);
            return;
        }
        if (Int8Kernels.block() < 8) {   // no vector tile on 128-bit species: each row as decode sums it
            Linear.rowByRow(in, out, x, rows, y, this::decode);
            return;
        }
        if (rows <= MAX_TILED_ROWS) {
            decodeRows(x, rows, y);
            return;
        }
        // the codes as floats (scale 1: exact), summed in decode's order: per chunk one lane
        // chain per column residue mod L, lanes reduced by sumLanes, the tail; then scale and bias
        int grouped = out / Int8Kernels.ROWS * Int8Kernels.ROWS;
        PanelMatmul.forwardChained(grouped, out, in, Int8Kernels.CHUNK, Int8Kernels.block(),
                (o, dst, off) -> Int8Kernels.dequantizeInterleaved(q, o, out, in, 1f, dst, off), scale, bias, x, rows, y);
        for (int o = grouped; o < out; o++)   // the out % 8 rows stored row-major: decode's dotI8F32 per row
            for (int r = 0; r < rows; r++) {
                float dots = 0f;
                for (int c = 0; c < Int8Kernels.chunks(in); c++) {
                    int c0 = c * Int8Kernels.CHUNK;
                    dots += Int8Kernels.dotI8F32(q, out * c0 + o * Int8Kernels.chunkColumns(c, in), x, r * in + c0, Int8Kernels.chunkColumns(c, in));
                }
                y[r * out + o] = (bias == null ? 0f : bias[o]) + scale[o] * dots;
            }
    }

    /**
     * The most rows decodeRows takes; more go to the panel tile. QuantKernelAB 2048x5632, one
     * thread, per CPU-second against forwardChained: 2.5-3.5x at 2-4 rows, 1.8x at 8, 1.35x at 16,
     * even at 24-32, 0.8x at 64 (docs/BENCHMARKS.md "Multi-row int8 decode kernel (h-mrow)").
     */
    private static final int MAX_TILED_ROWS = 16;

    /**
     * A few rows (the decode steps of several sequences): decode's walk, each interleaved block
     * widened once for a tile of rows (Int8Kernels.dotI8F32x8Rows); every output summed exactly as
     * decode sums it, so its bits equal the one-row result.
     */
    private void decodeRows(float[] x, int rows, float[] y) {
        int R = Int8Kernels.ROWS, groups = out / R, K = Int8Kernels.block(), chunks = Int8Kernels.chunks(in);
        Parallel.range(groups + (out % R == 0 ? 0 : 1), (long) in * R * rows, (first, last) -> {
            int span = Math.min(out, last * R) - first * R;   // dots: rows x span, this thread's outputs
            float[] dots = new float[rows * span], lanes = VectorMath.lanes(24);   // a 4 x 6 tile's totals (Int8Kernels.dotI8F32x8Rows)
            for (int c = 0; c < chunks; c++) {
                int c0 = c * Int8Kernels.CHUNK, n = Int8Kernels.chunkColumns(c, in), full = n / K * K, base = out * c0;
                for (int g = first; g < Math.min(last, groups); g++) {
                    int go = base + g * R * n, d = (g - first) * R;
                    Int8Kernels.dotI8F32x8Rows(q, go, x, c0, in, rows, 0, full, dots, d, span, lanes);
                    for (int r = 0; r < rows; r++) Int8Kernels.dotI8F32x8Tail(q, go, x, r * in + c0, n, dots, r * span + d);
                }
                if (last > groups)
                    for (int o = groups * R; o < out; o++)
                        for (int r = 0; r < rows; r++) dots[r * span + o - first * R] += Int8Kernels.dotI8F32(q, base + o * n, x, r * in + c0, n);
            }
            for (int r = 0; r < rows; r++)
                for (int o = first * R; o < first * R + span; o++) y[r * out + o] = (bias == null ? 0f : bias[o]) + scale[o] * dots[r * span + o - first * R];
        });
    }

    /**
     * One row: the interleaved groups of eight weight rows split over the threads; each thread
     * walks its groups chunk by chunk (Int8Kernels.CHUNK columns: x's chunk stays in L1), one
     * contiguous stream per chunk; the out % 8 last rows one at a time. The four-row tile over four
     * separate row streams (dotI8F32x4, removed) was 0.2-0.8x on 5632x2048; the interleaved groups
     * are one stream. Chunks of the row-major-interleaved layout (each thread jumping between
     * chunks of every group) were no better than none; chunk-major storage keeps each chunk's
     * groups contiguous.
     */
    private void decode(float[] x, float[] y) {
        int R = Int8Kernels.ROWS, groups = out / R, K = Int8Kernels.block(), chunks = Int8Kernels.chunks(in);
        Parallel.range(groups + (out % R == 0 ? 0 : 1), (long) in * R, (first, last) -> {
            float[] dots = new float[R * (last - first)], lanes = VectorMath.lanes(8);
            for (int c = 0; c < chunks; c++) {
                int c0 = c * Int8Kernels.CHUNK, n = Int8Kernels.chunkColumns(c, in), full = n / K * K, base = out * c0;
                for (int g = first; g < Math.min(last, groups); g++) {
                    int go = base + g * R * n, d = (g - first) * R;
                    Int8Kernels.dotI8F32x8(q, go, x, c0, 0, full, dots, d, lanes);
                    Int8Kernels.dotI8F32x8Tail(q, go, x, c0, n, dots, d);
                }
                if (last > groups)
                    for (int o = groups * R; o < out; o++) dots[o - first * R] += Int8Kernels.dotI8F32(q, base + o * n, x, c0, n);
            }
            for (int o = first * R; o < Math.min(out, last * R); o++) y[o] = (bias == null ? 0f : bias[o]) + scale[o] * dots[o - first * R];
        });
    }
}
