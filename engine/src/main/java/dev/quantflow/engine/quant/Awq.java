package dev.quantflow.engine.quant;

import dev.quantflow.engine.compute.Parallel;
import dev.quantflow.engine.compute.VectorMath;
import java.util.Arrays;

/**
 * AWQ (Lin et al. 2024): weights that meet large activations matter most, so scale input channel
 * j of the weights up by s_j = mean|X_j|^alpha before int4 rounding (and the activations down by
 * the same, folded into the producing op, see {@link ChannelFold}); alpha is searched on a grid to
 * minimise the output error on calibration rows. Then each (row, group)'s clipping range is
 * shrunk on a grid to minimise that group's output error (AWQ's clip search; not for q/k, as AWQ).
 * The clip search takes the layer's actual input rows: after folding, X / s.
 */
public final class Awq {
    public static final int ALPHA_STEPS = 20;
    public static final int CLIP_STEPS = 10;
    public static final float MAX_SHRINK = 0.5f;

    private Awq() {}

    /** Searches alpha, folds the best scales into weights; returns them. */
    public static float[] searchAndFold(ChannelFold fold, InputStats input, WeightEdits weights, int groupSize) {
        float[] xs = input.sample();
        int n = input.sampleRows(), in = fold.columns();
        if (n == 0) return ones(fold.params());
        float[] mean = fold.meanPerParam(input.meanAbs());
        float[][] ref = new float[fold.consumers().size()][];
        for (int k = 0; k < ref.length; k++) ref[k] = matmul(weights.get(fold.consumers().get(k) + ".weight"), in, xs, n);
        double bestErr = Double.POSITIVE_INFINITY;
        float[] best = ones(fold.params());
        for (int a = 0; a <= ALPHA_STEPS; a++) {
            float[] s = scales(mean, (float) a / ALPHA_STEPS);
            double err = 0;
            for (int k = 0; k < ref.length; k++) {
                float[] w = weights.get(fold.consumers().get(k) + ".weight");
                float[] q = scaledRoundTrip(w, in, s, fold.paramOf(), groupSize);
                err += squaredDiff(matmul(q, in, xs, n), ref[k]);
            }
            if (err < bestErr) {
                bestErr = err;
                best = s;
            }
        }
        fold.apply(weights, best);
        return best;
    }

    private static float[] ones(int n) {
        float[] s = new float[n];
        Arrays.fill(s, 1f);
        return s;
    }

    /** s = mean^alpha, normalised by sqrt(max * min) so it is centred around 1. */
    static float[] scales(float[] mean, float alpha) {
        float[] s = new float[mean.length];
        double mx = 0, mn = Double.POSITIVE_INFINITY;
        for (int i = 0; i < s.length; i++) {
            s[i] = (float) Math.max(1e-4, Math.pow(Math.max(mean[i], 1e-8), alpha));
            mx = Math.max(mx, s[i]);
            mn = Math.min(mn, s[i]);
        }
        float norm = (float) Math.sqrt(mx * mn);
        for (int i = 0; i < s.length; i++) s[i] /= norm;
        return s;
    }

    /** Q(W diag(s)) diag(1/s): what the layer computes after scaling, rounding and folding. */
    private static float[] scaledRoundTrip(float[] w, int in, float[] s, int[] paramOf, int groupSize) {
        int out = w.length / in;
        float[] ws = new float[w.length];
        for (int o = 0; o < out; o++) for (int c = 0; c < in; c++) ws[o * in + c] = w[o * in + c] * s[paramOf[c]];
        float[] q = QuantizedMatrix.quantize(ws, out, in, IntRange.INT4_ASYM, groupSize, RangeMethod.MIN_MAX).dequantize();
        for (int o = 0; o < out; o++) for (int c = 0; c < in; c++) q[o * in + c] /= s[paramOf[c]];
        return q;
    }

    /** W (out, in) times the sample rows X (n, in): (n, out). */
    static float[] matmul(float[] w, int in, float[] x, int n) {
        int out = w.length / in;
        float[] y = new float[n * out];
        Parallel.range(out, (long) in * n, (s, e) -> {
            for (int o = s; o < e; o++) for (int r = 0; r < n; r++) y[r * out + o] = VectorMath.dot(w, o * in, x, r * in, in);
        });
        return y;
    }

    private static double squaredDiff(float[] a, float[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) {
            double d = a[i] - b[i];
            s += d * d;
        }
        return s;
    }

    /**
     * Int4 with each (row, group)'s range shrunk by the factor in [MAX_SHRINK, 1] that minimises
     * that group's contribution to the output error on the sample rows.
     */
    public static QuantizedMatrix clipSearch(float[] w, int out, int in, int groupSize, float[] x, int sampleRows) {
        GroupLayout g = new GroupLayout(in, groupSize);
        int ng = g.groups(), n = Math.min(sampleRows, 64);
        byte[] q = new byte[out * in];
        float[] scales = new float[out * ng];
        byte[] zeros = new byte[out * ng];
        IntRange r = IntRange.INT4_ASYM;
        Parallel.range(out, (long) in * n * CLIP_STEPS, (s, e) -> {
            float[] deq = new float[g.groupSize()];
            for (int o = s; o < e; o++) {
                for (int k = 0; k < ng; k++) {
                    int c0 = g.start(k), c1 = g.end(k), len = c1 - c0;
                    float[] lohi = RangeMethod.MIN_MAX.range(w, o * in + c0, o * in + c1, r);
                    IntRange.QParams best = r.params(lohi[0], lohi[1]);
                    double bestErr = Double.POSITIVE_INFINITY;
                    for (int step = 0; step <= CLIP_STEPS; step++) {
                        float f = 1f - (1f - MAX_SHRINK) * step / CLIP_STEPS;
                        IntRange.QParams p = r.params(lohi[0] * f, lohi[1] * f);
                        for (int c = 0; c < len; c++) deq[c] = r.dequantize(r.quantize(w[o * in + c0 + c], p), p) - w[o * in + c0 + c];
                        double err = 0;
                        for (int row = 0; row < n; row++) {
                            float d = VectorMath.dot(deq, 0, x, row * in + c0, len);
                            err += d * d;
                        }
                        if (err < bestErr) {
                            bestErr = err;
                            best = p;
                        }
                    }
                    scales[o * ng + k] = best.scale();
                    zeros[o * ng + k] = (byte) best.zero();
                    for (int c = c0; c < c1; c++) q[o * in + c] = (byte) r.quantize(w[o * in + c], best);
                }
            }
        });
        return new QuantizedMatrix(r, out, in, g, q, scales, zeros);
    }
}
