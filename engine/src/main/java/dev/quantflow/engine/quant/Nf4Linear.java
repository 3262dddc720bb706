package dev.quantflow.engine.quant;

import dev.quantflow.engine.compute.Linear;
import dev.quantflow.engine.compute.Nf4Kernels;
import dev.quantflow.engine.compute.Parallel;
import dev.quantflow.engine.compute.VectorMath;
import jdk.incubator.vector.FloatVector;

/**
 * NF4 weight-only (QLoRA / bitsandbytes 4-bit): codes index the 16 NormalFloat4 values, times the
 * absmax of their block (blocks of B consecutive weights of the flattened tensor, as bitsandbytes
 * lays them out, so a block may span two rows). Each weight row is decoded once into a float row
 * (vector codebook lookup) and dotted with every activation row.
 */
public final class Nf4Linear implements Linear {
    private final Nf4Matrix w;
    private final float[] bias;
    private final FloatVector[] table = Nf4Kernels.tableVectors(Nf4Matrix.NF4);

    public Nf4Linear(Nf4Matrix w, float[] bias) {
        this.w = w;
        this.bias = bias;
    }

    public Nf4Matrix weights() {
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
        int out = w.rows(), in = w.cols(), bs = w.blockSize();
        byte[] q = w.q();
        Parallel.range(out, (long) in * rows, (start, end) -> {
            float[] row = new float[in];
            for (int o = start; o < end; o++) {
                long from = (long) o * in;
                for (int i = 0; i < in; ) {   // segments of the row cut at block boundaries
                    int b = (int) ((from + i) / bs);
                    int n = (int) Math.min(in - i, (long) (b + 1) * bs - (from + i));
                    Nf4Kernels.decode(table, Nf4Matrix.NF4, q, (int) (from + i), w.absmax(b), row, i, n);
                    i += n;
                }
                float bb = bias == null ? 0f : bias[o];
                for (int r = 0; r < rows; r++) y[r * out + o] = bb + VectorMath.dot(row, 0, x, r * in, in);
            }
        });
    }
}
