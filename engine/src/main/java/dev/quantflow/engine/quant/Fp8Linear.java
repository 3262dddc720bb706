package dev.quantflow.engine.quant;

import dev.quantflow.engine.compute.Fp8Kernels;
import dev.quantflow.engine.compute.Linear;
import dev.quantflow.engine.compute.Parallel;

/**
 * FP8 weight-only (W8A16 in FP8, as vLLM's fp8 on GPUs without FP8 tensor cores): e4m3 or e5m2
 * codes, per-channel or per-tensor scales, fp32 activations. Decode reads one byte per weight and
 * decodes in registers, for every row of a batch alike.
 */
public final class Fp8Linear implements Linear {
    private final Fp8Matrix w;
    private final float[] bias;

    public Fp8Linear(Fp8Matrix w, float[] bias) {
        this.w = w;
        this.bias = bias;
    }

    public Fp8Matrix weights() {
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
        return new QuantScheme.Fp8(w.format(), w.perChannel()).toString();
    }

    @Override
    public void forward(float[] x, int rows, float[] y) {
        int out = w.rows(), in = w.cols();
        byte[] q = w.q();
        float[] scale = w.scales();
        // every row through the same kernel (the weight row stays in cache across the batch): a
        // request's output does not depend on what is batched with it
        Parallel.range(out, (long) in * rows, (start, end) -> {
            for (int o = start; o < end; o++) {
                float b = bias == null ? 0f : bias[o];
                for (int r = 0; r < rows; r++) y[r * out + o] = b + scale[o] * Fp8Kernels.dotF8F32(w.format(), q, o * in, x, r * in, in);
            }
        });
    }
}
