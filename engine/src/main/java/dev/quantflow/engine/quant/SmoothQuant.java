package dev.quantflow.engine.quant;

import java.util.List;

/**
 * SmoothQuant (Xiao et al. 2023): per input channel j, s_j = max|X_j|^alpha / max|W_j|^(1-alpha);
 * X / s is easy to quantize per token, W * s per channel. The 1/s goes into the op that produces
 * X (RMSNorm weight, v_proj or up_proj rows; see {@link ChannelFold}), so the division is free.
 * alpha is fixed, or searched on a grid (0, 0.05, ..., 1) for the lowest calibration loss: the
 * squared error of the simulated W8A8 outputs of the fold's consumer linears against their fp32
 * outputs on the calibration sample rows, relative to those outputs' energy, either per fold (each
 * layer's four folds get their own alpha, as later SmoothQuant variants do) or one alpha for the
 * model (the sum of every fold's relative loss).
 */
public final class SmoothQuant {
    public static final int ALPHA_STEPS = 20;

    private SmoothQuant() {}

    /** The smoothing factors of one fold, from calibration statistics of its input. */
    public static float[] factors(ChannelFold fold, InputStats input, WeightEdits weights, float alpha) {
        float[] act = fold.maxPerParam(input.absMax());
        float[] wmax = fold.maxPerParam(fold.weightColumnMax(weights));
        float[] s = new float[fold.params()];
        for (int p = 0; p < s.length; p++) {
            if (act[p] <= 0 || wmax[p] <= 0) {
                s[p] = 1f;
                continue;
            }
            double v = Math.pow(act[p], alpha) / Math.pow(wmax[p], 1 - alpha);
            s[p] = (float) Math.max(1e-5, Math.min(1e5, v));
        }
        return s;
    }

    /** Computes and folds the factors; returns them (they are saved with the model). */
    public static float[] smooth(ChannelFold fold, InputStats input, WeightEdits weights, float alpha) {
        float[] s = factors(fold, input, weights, alpha);
        fold.apply(weights, s);
        return s;
    }

    public static float gridAlpha(int step) {
        return (float) step / ALPHA_STEPS;
    }

    /**
     * The calibration loss of the fold at every grid alpha: sum over its consumers of
     * ||W8A8(X / s, W s) - X W^T||^2 / ||X W^T||^2 on the sample rows (per-token int8 activations,
     * int8 weights per output channel or per tensor, as the scheme runs them).
     */
    public static double[] lossCurve(ChannelFold fold, InputStats input, WeightEdits weights, boolean perChannelWeights) {
        double[] loss = new double[ALPHA_STEPS + 1];
        int n = input.sampleRows(), in = fold.columns();
        if (n == 0) return loss;
        float[] x = input.sample();
        List<String> consumers = fold.consumers();
        float[][] ref = new float[consumers.size()][];
        double[] energy = new double[consumers.size()];
        for (int k = 0; k < ref.length; k++) {
            ref[k] = Awq.matmul(weights.get(consumers.get(k) + ".weight"), in, x, n);
            for (float v : ref[k]) energy[k] += (double) v * v;
        }
        float[] xs = new float[x.length];
        for (int a = 0; a <= ALPHA_STEPS; a++) {
            float[] s = factors(fold, input, weights, gridAlpha(a));
            for (int r = 0; r < n; r++) for (int c = 0; c < in; c++) xs[r * in + c] = x[r * in + c] / s[fold.paramOf()[c]];
            ActivationQuant aq = ActivationQuant.quantize(xs, n, new GroupLayout(in, in));
            for (int k = 0; k < ref.length; k++) {
                float[] w = weights.get(consumers.get(k) + ".weight");
                int out = w.length / in;
                float[] ws = new float[w.length];
                for (int o = 0; o < out; o++) for (int c = 0; c < in; c++) ws[o * in + c] = w[o * in + c] * s[fold.paramOf()[c]];
                QuantizedMatrix q = perChannelWeights
                        ? QuantizedMatrix.quantize(ws, out, in, IntRange.INT8_SYM, in, RangeMethod.MIN_MAX)
                        : QuantizedMatrix.quantizePerTensor(ws, out, in, IntRange.INT8_SYM, RangeMethod.MIN_MAX);
                float[] y = new float[n * out];
                aq.matmul(q, n, null, y);
                double err = 0;
                for (int i = 0; i < y.length; i++) {
                    double d = y[i] - ref[k][i];
                    err += d * d;
                }
                loss[a] += energy[k] == 0 ? 0 : err / energy[k];
            }
        }
        return loss;
    }

    /** The grid alpha of the lowest loss (the lowest alpha among equals). */
    public static float argmin(double[] loss) {
        int best = 0;
        for (int a = 1; a < loss.length; a++) if (loss[a] < loss[best]) best = a;
        return gridAlpha(best);
    }
}
