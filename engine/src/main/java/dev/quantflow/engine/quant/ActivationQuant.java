package dev.quantflow.engine.quant;

import dev.quantflow.engine.compute.Int8Kernels;
import dev.quantflow.engine.compute.Parallel;

/**
 * Dynamic per-token activation quantization: each row of x (rows, in), or each group of a row,
 * gets its own symmetric int8 scale max|x|/127, computed at run time (ZeroQuant, LLM.int8()).
 */
public record ActivationQuant(byte[] q, float[] scales, GroupLayout layout) {

    public static ActivationQuant quantize(float[] x, int rows, GroupLayout g) {
        int in = g.cols(), ng = g.groups();
        byte[] q = new byte[rows * in];
        float[] s = new float[rows * ng];
        for (int r = 0; r < rows; r++) {
            for (int k = 0; k < ng; k++) {
                int from = r * in + g.start(k), n = g.end(k) - g.start(k);
                float m = Int8Kernels.maxAbs(x, from, n);
                float scale = m == 0f ? 1f : m / 127f;
                s[r * ng + k] = scale;
                Int8Kernels.quantizeSym(x, from, n, scale, q, from);
            }
        }
        return new ActivationQuant(q, s, g);
    }

    /**
     * y[r, o] = sum_g xs[r,g] * ws[o,g] * (xq[r, g] . wq[o, g]) (+ bias): the int8 x int8 -> int32
     * matmul with the scales applied once per group to the int32 sums. Weights share the layout.
     */
    public void matmul(QuantizedMatrix w, int rows, float[] bias, float[] y) {
        int in = layout.cols(), out = w.rows(), ng = layout.groups();
        byte[] wq = w.q();
        float[] ws = w.scales();
        Parallel.range(out, (long) in * rows, (start, end) -> {
            for (int o = start; o < end; o++) {
                float b = bias == null ? 0f : bias[o];
                for (int r = 0; r < rows; r++) {
                    float acc = 0f;
                    for (int k = 0; k < ng; k++) {
                        int s = layout.start(k), n = layout.end(k) - s;
                        int dot = Int8Kernels.dotI8(q, r * in + s, wq, o * in + s, n);
                        acc += dot * (scales[r * ng + k] * ws[o * ng + k]);
                    }
                    y[r * out + o] = b + acc;
                }
            }
        });
    }
}
