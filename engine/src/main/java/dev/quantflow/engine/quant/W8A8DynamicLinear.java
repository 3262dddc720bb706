package dev.quantflow.engine.quant;

import dev.quantflow.engine.compute.Linear;

/**
 * W8A8 with dynamic per-token activations (ZeroQuant): int8 weights per output channel, or per
 * group of G input columns; each activation row (or row-group) is quantized at run time with its
 * own scale; int8 x int8 dot products accumulate in int32.
 */
public final class W8A8DynamicLinear implements Linear {
    private final QuantizedMatrix w;   // (out, in) symmetric int8
    private final float[] bias;
    private final String scheme;

    public W8A8DynamicLinear(QuantizedMatrix w, float[] bias, String scheme) {
        if (w.range() != IntRange.INT8_SYM) throw new IllegalArgumentException("W8A8 needs symmetric int8 weights");
        this.w = w;
        this.bias = bias;
        this.scheme = scheme;
    }

    /** groupSize >= in means per output channel. */
    public static W8A8DynamicLinear quantize(float[] weight, int out, int in, int groupSize, float[] bias, String scheme) {
        return new W8A8DynamicLinear(QuantizedMatrix.quantize(weight, out, in, IntRange.INT8_SYM, groupSize, RangeMethod.MIN_MAX), bias, scheme);
    }

    public QuantizedMatrix weights() {
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
        return scheme;
    }

    @Override
    public void forward(float[] x, int rows, float[] y) {
        forward(x, rows, y, ActivationQuant.MAX_TILED_ROWS);
    }

    /** forward with ActivationQuant's float row tiles up to tiledRows rows (1: the int32 batched path before them, which benchmarks compare against). */
    public void forward(float[] x, int rows, float[] y, int tiledRows) {
        ActivationQuant.quantize(x, rows, w.layout()).matmul(w, rows, bias, y, tiledRows);
    }
}
