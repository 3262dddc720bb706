package dev.quantflow.engine.quant;

import dev.quantflow.engine.compute.Linear;
import dev.quantflow.engine.compute.FourBitKernels;
import dev.quantflow.engine.compute.Parallel;
import dev.quantflow.engine.compute.VectorMath;
import jdk.incubator.vector.FloatVector;

/**
 * 4-bit codebook weight-only (bitsandbytes' NF4 and FP4, QLoRA): codes index the 16 values of the
 * matrix's {@link FourBitCode}, times the absmax of their block (blocks of B consecutive weights of the flattened tensor, as bitsandbytes
 * lays them out, so a block may span two rows). Each weight row is decoded once into a float row
 * (vector codebook lookup) and dotted with every activation row.
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
        // every activation row is dotted with the decoded weight row as a single row would be: a
        // row's output does not depend on its batch (Fp8LinearTest.aRowsOutputDoesNotDependOnTheBatch;
        // PanelMatmul's tile sums in another order)
        int out = w.rows(), in = w.cols();
        Parallel.range(out, (long) in * rows, (start, end) -> {
            float[] row = new float[in];
            for (int o = start; o < end; o++) {
                decodeRow(o, row, 0);
                float bb = bias == null ? 0f : bias[o];
                for (int r = 0; r < rows; r++) y[r * out + o] = bb + VectorMath.dot(row, 0, x, r * in, in);
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
