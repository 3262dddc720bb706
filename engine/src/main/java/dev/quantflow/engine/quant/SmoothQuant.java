package dev.quantflow.engine.quant;

import dev.quantflow.engine.model.Fp8Format;
import java.util.List;

/**
 * SmoothQuant (Xiao et al. 2023): per input channel j, s_j = max|X_j|^alpha / max|W_j|^(1-alpha);
 * X / s is easy to quantize per token, W * s per channel. The 1/s goes into the op that produces
 * X (RMSNorm weight, v_proj or up_proj rows; see {@link ChannelFold}), so the division is free.
 * alpha is fixed, or searched on a grid (0, 0.05, ..., 1) for the lowest calibration loss: the
 * squared error of the simulated W8A8 outputs (int8 for smoothquant, e4m3 for fp8-w8a8, each as
 * its scheme runs) of the fold's consumer linears against their fp32
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
     * The W8A8 a smoothed consumer runs, simulated on calibration rows: its outputs (n, out) for
     * the smoothed input x = X / s (n, in) and smoothed weights w = W diag(s) (out, in); hessian is
     * the smoothed input's (H_ij / (s_i s_j), null unless needsHessian), maxAbs its calibration max.
     */
    public interface Simulation {
        float[] outputs(float[] x, int n, float[] w, int out, int in, double[] hessian, float maxAbs);

        default boolean needsHessian() {
            return false;
        }
    }

    /** smoothquant's W8A8: per-token int8 activations, int8 weights per output channel or per tensor, the int8 x int8 matmul. */
    public static Simulation int8(boolean perChannelWeights) {
        return (x, n, w, out, in, h, maxAbs) -> {
            ActivationQuant aq = ActivationQuant.quantize(x, n, new GroupLayout(in, in));
            QuantizedMatrix q = perChannelWeights
                    ? QuantizedMatrix.quantize(w, out, in, IntRange.INT8_SYM, in, RangeMethod.MIN_MAX)
                    : QuantizedMatrix.quantizePerTensor(w, out, in, IntRange.INT8_SYM, RangeMethod.MIN_MAX);
            float[] y = new float[n * out];
            aq.matmul(q, n, null, y);
            return y;
        };
    }

    /**
     * fp8-w8a8 as the scheme builds it: e4m3 weight codes by its method (round to nearest, mse
     * scales, GPTQ on the smoothed Hessian), run by Fp8W8A8Linear with its activation scaling
     * (per token, per tensor, or the static scale of the calibration max).
     */
    public static Simulation fp8(QuantScheme.Fp8W8A8 f) {
        return new Simulation() {
            public float[] outputs(float[] x, int n, float[] w, int out, int in, double[] h, float maxAbs) {
                Fp8Matrix m = switch (f.weights()) {
                    case RTN -> Fp8Matrix.quantize(w, out, in, Fp8Format.E4M3, f.perChannelWeights());
                    case MSE -> Fp8Matrix.quantizeMse(w, out, in, Fp8Format.E4M3, f.perChannelWeights());
                    case GPTQ, GPTQ_MSE -> Gptq.quantizeFp8(w, out, in, h, Fp8Format.E4M3, f.perChannelWeights(), f.weights().mseScales(), f.actOrder(), Gptq.DEFAULT_DAMP, null);
                };
                float bound = f.act() == Fp8W8A8Linear.Act.STATIC ? Fp8Matrix.scaleFor(maxAbs, Fp8Format.E4M3) : Float.POSITIVE_INFINITY;
                float[] y = new float[n * out];
                new Fp8W8A8Linear(m, f.act(), bound, null).forward(x, n, y);
                return y;
            }

            public boolean needsHessian() {
                return f.weights().gptq();
            }
        };
    }

    /**
     * The calibration loss of the fold at every grid alpha: sum over its consumers of
     * ||sim(X / s, W s) - X W^T||^2 / ||X W^T||^2 on the sample rows.
     */
    public static double[] lossCurve(ChannelFold fold, InputStats input, WeightEdits weights, Simulation sim) {
        double[] loss = new double[ALPHA_STEPS + 1];
        int n = input.sampleRows(), in = fold.columns();
        if (n == 0) return loss;
        float[] x = input.sample(), absMax = input.absMax();
        double[] hessian = sim.needsHessian() ? input.hessian() : null;
        int[] param = fold.paramOf();
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
            for (int r = 0; r < n; r++) for (int c = 0; c < in; c++) xs[r * in + c] = x[r * in + c] / s[param[c]];
            float maxAbs = 0;
            for (int c = 0; c < in; c++) maxAbs = Math.max(maxAbs, absMax[c] / s[param[c]]);
            double[] hs = null;
            if (hessian != null) {
                hs = new double[hessian.length];
                for (int i = 0; i < in; i++) for (int j = 0; j < in; j++) hs[i * in + j] = hessian[i * in + j] / ((double) s[param[i]] * s[param[j]]);
            }
            for (int k = 0; k < ref.length; k++) {
                float[] w = weights.get(consumers.get(k) + ".weight");
                int out = w.length / in;
                float[] ws = new float[w.length];
                for (int o = 0; o < out; o++) for (int c = 0; c < in; c++) ws[o * in + c] = w[o * in + c] * s[param[c]];
                float[] y = sim.outputs(xs, n, ws, out, in, hs, maxAbs);
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

    /** smoothquant's curve: int8 W8A8 (weights per output channel, or per tensor). */
    public static double[] lossCurve(ChannelFold fold, InputStats input, WeightEdits weights, boolean perChannelWeights) {
        return lossCurve(fold, input, weights, int8(perChannelWeights));
    }

    /** The grid alpha of the lowest loss (the lowest alpha among equals). */
    public static float argmin(double[] loss) {
        int best = 0;
        for (int a = 1; a < loss.length; a++) if (loss[a] < loss[best]) best = a;
        return gridAlpha(best);
    }
}
