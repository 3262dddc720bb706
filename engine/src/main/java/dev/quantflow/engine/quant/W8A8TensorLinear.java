package dev.quantflow.engine.quant;

import dev.quantflow.engine.compute.Int8Kernels;
import dev.quantflow.engine.compute.Linear;
import dev.quantflow.engine.compute.Parallel;

/**
 * The naive W8A8 baseline: one static activation scale for the layer's input, fixed by
 * calibration (max |x| / 127; larger values clip), and one scale for the whole weight matrix.
 * A few large activation channels stretch the scale until ordinary channels round to zero.
 */
public final class W8A8TensorLinear implements Linear {
    private final QuantizedMatrix w;     // per-tensor symmetric int8 (all row scales equal)
    private final float inputScale;
    private final float[] bias;

    public W8A8TensorLinear(QuantizedMatrix w, float inputScale, float[] bias) {
        if (w.range() != IntRange.INT8_SYM || !w.layout().perRowOnly()) throw new IllegalArgumentException("W8A8 per-tensor needs symmetric int8 weights");
        if (!(inputScale > 0)) throw new IllegalArgumentException("static input scale must be positive, got " + inputScale);
        this.w = w;
        this.inputScale = inputScale;
        this.bias = bias;
    }

    /** inputMaxAbs: the largest |x| calibration saw at this layer's input. */
    public static W8A8TensorLinear quantize(float[] weight, int out, int in, float inputMaxAbs, float[] bias) {
        QuantizedMatrix w = QuantizedMatrix.quantizePerTensor(weight, out, in, IntRange.INT8_SYM, RangeMethod.MIN_MAX);
        return new W8A8TensorLinear(w, inputMaxAbs > 0 ? inputMaxAbs / 127f : 1f, bias);
    }

    public QuantizedMatrix weights() {
        return w;
    }

    public float inputScale() {
        return inputScale;
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
        return (long) w.rows() * w.cols() + 8 + (bias == null ? 0 : 4L * bias.length);
    }

    @Override
    public String scheme() {
        return "w8a8-tensor";
    }

    @Override
    public void forward(float[] x, int rows, float[] y) {
        int in = w.cols(), out = w.rows();
        byte[] xq = new byte[rows * in];
        Int8Kernels.quantizeSym(x, 0, rows * in, inputScale, xq, 0);
        float s = inputScale * w.scales()[0];
        byte[] wq = w.q();
        Parallel.range(out, (long) in * rows, (start, end) -> {
            for (int o = start; o < end; o++) {
                float b = bias == null ? 0f : bias[o];
                for (int r = 0; r < rows; r++) y[r * out + o] = b + s * Int8Kernels.dotI8(xq, r * in, wq, o * in, in);
            }
        });
    }
}
