package dev.quantflow.engine.quant;

import dev.quantflow.engine.compute.Int8Kernels;
import dev.quantflow.engine.compute.Linear;
import dev.quantflow.engine.compute.Parallel;
import dev.quantflow.engine.compute.VectorMath;

/**
 * W8A16: weight-only int8, one scale per output channel, activations stay fp32. Decode reads one
 * byte per weight (a quarter of fp32, half of bf16) and dequantizes in registers; a batch of rows
 * dequantizes each weight row once and reuses it for every row.
 */
public final class Int8Linear implements Linear {
    private final int out, in;
    private final byte[] q;        // (out, in) symmetric codes
    private final float[] scale;   // (out)
    private final float[] bias;    // (out) or null

    public Int8Linear(QuantizedMatrix m, float[] bias) {
        if (m.range() != IntRange.INT8_SYM || !m.layout().perRowOnly())
            throw new IllegalArgumentException("W8A16 needs symmetric int8 codes with one scale per output channel");
        this.out = m.rows();
        this.in = m.cols();
        this.q = m.q();
        this.scale = m.scales();
        this.bias = bias;
    }

    public static Int8Linear quantize(float[] w, int out, int in, float[] bias) {
        return new Int8Linear(QuantizedMatrix.quantize(w, out, in, IntRange.INT8_SYM, in, RangeMethod.MIN_MAX), bias);
    }

    public QuantizedMatrix weights() {
        return new QuantizedMatrix(IntRange.INT8_SYM, out, in, GroupLayout.perRow(in), q, scale, new byte[out]);
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
    public void forward(float[] x, int rows, float[] y) {
        Parallel.range(out, (long) in * rows, (start, end) -> {
            float[] row = rows == 1 ? null : new float[in];
            for (int o = start; o < end; o++) {
                float b = bias == null ? 0f : bias[o];
                if (row == null) {
                    y[o] = b + scale[o] * Int8Kernels.dotI8F32(q, o * in, x, 0, in);
                } else {
                    Int8Kernels.dequantize(q, o * in, scale[o], row, in);
                    for (int r = 0; r < rows; r++) y[r * out + o] = b + VectorMath.dot(row, 0, x, r * in, in);
                }
            }
        });
    }
}
