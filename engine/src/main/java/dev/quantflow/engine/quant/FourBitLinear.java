package dev.quantflow.engine.quant;

import dev.quantflow.engine.compute.FourBitKernels;
import dev.quantflow.engine.compute.Linear;
import dev.quantflow.engine.compute.PanelMatmul;
import dev.quantflow.engine.compute.Parallel;
import dev.quantflow.engine.compute.VectorMath;
import jdk.incubator.vector.FloatVector;

/**
 * 4-bit codebook weight-only (bitsandbytes' NF4 and FP4, QLoRA): codes index the 16 values of the
 * matrix's {@link FourBitCode}, times the absmax of their block (blocks of B consecutive weights
 * of the flattened tensor, as bitsandbytes lays them out, so a block may span two rows). The
 * codes are held packed eight rows per int (FourBitKernels.pack, half a byte per weight, converted
 * once here). One activation row: each thread walks its groups of eight rows chunk by chunk,
 * decoding the group's block absmax values once per block and running FourBitKernels.dot8 (one
 * activation load for eight rows, codebook lookup in registers). A batch decodes panels of weight
 * rows and runs the dense tile in dot8's summation order (PanelMatmul.forwardChained), so a row's
 * output bits never depend on its batch. Shapes whose blocks do not tile a chunk's rows (in not a
 * multiple of the block, blocks over CHUNK or under a vector) take the same order through a
 * decoded row (FourBitKernels.chunkedDot).
 */
public final class FourBitLinear implements Linear {
    private final FourBitMatrix stats;   // the matrix without its codes (q null): code table, blocks, absmax
    private final int[] packed;          // FourBitKernels.pack layout
    private final float[] bias;
    private final FloatVector[] table;
    private final float[] values;
    private final boolean dot8;          // whether the blocks tile every chunk row (FourBitKernels.dot8's shapes)

    public FourBitLinear(FourBitMatrix w, float[] bias) {
        this.packed = FourBitKernels.pack(w.q(), w.rows(), w.cols());
        this.stats = new FourBitMatrix(w.code(), w.rows(), w.cols(), w.blockSize(), null, w.absmaxFp32(), w.absmaxQ(), w.absmaxMap(), w.absmaxScales(), w.absmaxOffset());
        this.bias = bias;
        this.values = w.code().table();
        this.table = FourBitKernels.tableVectors(values);
        int bs = w.blockSize(), in = w.cols();
        this.dot8 = FourBitKernels.VECTOR && in % bs == 0 && FourBitKernels.CHUNK % bs == 0 && bs % FourBitKernels.lanes() == 0;
    }

    /** The matrix with its row-major codes (unpacked: a copy). */
    public FourBitMatrix weights() {
        FourBitMatrix s = stats;
        return new FourBitMatrix(s.code(), s.rows(), s.cols(), s.blockSize(), FourBitKernels.unpack(packed, s.rows(), s.cols()),
                s.absmaxFp32(), s.absmaxQ(), s.absmaxMap(), s.absmaxScales(), s.absmaxOffset());
    }

    @Override
    public int inFeatures() {
        return stats.cols();
    }

    @Override
    public int outFeatures() {
        return stats.rows();
    }

    @Override
    public long weightBytes() {
        return stats.packedBytes() + (bias == null ? 0 : 4L * bias.length);
    }

    @Override
    public String scheme() {
        return stats.scheme().toString();
    }

    @Override
    public void forward(float[] x, int rows, float[] y) {
        int out = stats.rows(), in = stats.cols();
        if (rows == 1) {
            decode(x, y);
            return;
        }
        if (!FourBitKernels.VECTOR) {   // no vector tile on 128-bit species: each row as decode sums it
            Linear.rowByRow(in, out, x, rows, y, this::decode);
            return;
        }
        PanelMatmul.forwardChained(out, out, in, FourBitKernels.CHUNK, FourBitKernels.lanes(), this::decodeRow, null, bias, x, rows, y);
    }

    /** One row: the groups split over the threads, each walked chunk by chunk (x's chunk stays in L1). */
    private void decode(float[] x, float[] y) {
        int out = stats.rows(), in = stats.cols(), R = FourBitKernels.ROWS, groups = FourBitKernels.groups(out);
        if (!dot8) {
            Parallel.range(out, in, (start, end) -> {
                float[] row = new float[in];
                for (int o = start; o < end; o++) {
                    decodeRow(o, row, 0);
                    y[o] = (bias == null ? 0f : bias[o]) + FourBitKernels.chunkedDot(row, 0, x, 0, in);
                }
            });
            return;
        }
        int bs = stats.blockSize(), perRow = in / bs, chunkBlocks = FourBitKernels.CHUNK / bs;
        Parallel.range(groups, (long) in * R, (first, last) -> {
            float[] dots = new float[R * (last - first)], am = new float[R * chunkBlocks], lanes = VectorMath.lanes(8);
            for (int ch = 0; ch * FourBitKernels.CHUNK < in; ch++) {
                int c0 = ch * FourBitKernels.CHUNK, n = Math.min(FourBitKernels.CHUNK, in - c0), nb = n / bs, base = groups * c0;
                for (int g = first; g < last; g++) {
                    for (int j = 0; j < R; j++) {   // the group's absmax values of this chunk, decoded once per block
                        int o = g * R + j, b = o * perRow + c0 / bs;
                        for (int k = 0; k < nb; k++) am[j * chunkBlocks + k] = o < out ? stats.absmax(b + k) : 0f;
                    }
                    FourBitKernels.dot8(packed, base + g * n, x, c0, n, bs, am, 0, chunkBlocks, table, dots, (g - first) * R, lanes);
                }
            }
            for (int o = first * R; o < Math.min(out, last * R); o++) y[o] = (bias == null ? 0f : bias[o]) + dots[o - first * R];
        });
    }

    /** Weight row o into dst[off..off + in): fl(value * absmax), segments cut at block and chunk boundaries. */
    private void decodeRow(int o, float[] dst, int off) {
        int in = stats.cols(), out = stats.rows(), bs = stats.blockSize(), shift = 4 * (o % FourBitKernels.ROWS);
        long from = (long) o * in;
        for (int i = 0; i < in; ) {
            int b = (int) ((from + i) / bs);
            int chunkEnd = Math.min(in, (i / FourBitKernels.CHUNK + 1) * FourBitKernels.CHUNK);
            int n = (int) Math.min(chunkEnd - i, (long) (b + 1) * bs - (from + i));
            FourBitKernels.decode(table, values, packed, FourBitKernels.index(o, i, out, in), shift, stats.absmax(b), dst, off + i, n);
            i += n;
        }
    }
}
