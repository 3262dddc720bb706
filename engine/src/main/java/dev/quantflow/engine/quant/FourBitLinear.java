package dev.quantflow.engine.quant;

import dev.quantflow.engine.compute.Linear;
import dev.quantflow.engine.compute.FourBitKernels;
import dev.quantflow.engine.compute.PanelMatmul;
import dev.quantflow.engine.compute.Parallel;
import dev.quantflow.engine.compute.VectorMath;
import jdk.incubator.vector.FloatVector;

/**
 * 4-bit codebook weight-only (bitsandbytes' NF4 and FP4, QLoRA): codes index the 16 values of the
 * matrix's {@link FourBitCode}, times the absmax of their block (blocks of B consecutive weights of the flattened tensor, as bitsandbytes
 * lays them out, so a block may span two rows). One activation row: each weight row is decoded
 * into a float row (vector codebook lookup) and dotted with it (PanelMatmul.chainDot); a batch
 * decodes panels of weight rows and runs the dense tile in that same summation order
 * (PanelMatmul.forwardChained), so a row's output bits never depend on its batch.
 */
public final class FourBitLinear implements Linear {
    private final FourBitMatrix w;
    private final float[] bias;
    private final FloatVector[] table;
    private final float[] values;

    public FourBitLinear(FourBitMatrix w, float[] bias) {
        this.w = w;
        this.bias = bias;
        this.values = w.code().table();
        this.table = FourBitKernels.tableVectors(values);
    }

    public FourBitMatrix weights() {
        return w;
    }

    @Override
    public int inFeatures() {
        return w.cols();
    }

    @Override
    public int outFeatures() {
        return w.rows();
    }

    @Override
    public long weightBytes() {
        return w.packedBytes() + (bias == null ? 0 : 4L * bias.length);
    }

    @Override
    public String scheme() {
        return w.scheme().toString();
    }

    @Override
    public void forward(float[] x, int rows, float[] y) {
        int out = w.rows(), in = w.cols();
        if (rows > 1) {   // the panel tile, summing each output as chainDot does (one segment of the whole row, 4L chains)
            int chains = 4 * VectorMath.F.length();
            PanelMatmul.forwardChained(out, out, in, (in + chains - 1) / chains * chains, chains, this::decodeRow, null, bias, x, rows, y);
            return;
        }
        Parallel.range(out, in, (start, end) -> {
            float[] row = new float[in];
            for (int o = start; o < end; o++) {
                decodeRow(o, row, 0);
                y[o] = (bias == null ? 0f : bias[o]) + PanelMatmul.chainDot(row, 0, x, 0, in);
            }
        });
    }

    /** Weight row o into dst[off..off + in). */
    private void decodeRow(int o, float[] dst, int off) {
        int in = w.cols(), bs = w.blockSize();
        long from = (long) o * in;
        for (int i = 0; i < in; ) {   // segments of the row cut at block boundaries
            int b = (int) ((from + i) / bs);
            int n = (int) Math.min(in - i, (long) (b + 1) * bs - (from + i));
            FourBitKernels.decode(table, values, w.q(), (int) (from + i), w.absmax(b), dst, off + i, n);
            i += n;
        }
    }
}
