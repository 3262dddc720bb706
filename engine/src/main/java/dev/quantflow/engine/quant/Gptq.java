package dev.quantflow.engine.quant;

import java.util.Arrays;

/**
 * GPTQ (Frantar et al. 2023): quantizes a weight matrix column by column, each column's rounding
 * error spread over the columns not yet quantized in proportion to the inverse Hessian of the
 * layer's reconstruction loss, H = 2 X^T X from calibration inputs. Steps: dampen H
 * (+ percDamp * mean diag), U = upper Cholesky factor of H^-1, then for each block of columns:
 * quantize column i, err = (w_i - q_i) / U_ii, update the block's later columns by err * U_i,j,
 * and after the block, all later columns at once (the "lazy batch" update). Group parameters are
 * fixed when the first column of a group is reached (from the error-updated weights); with
 * act-order columns are visited by decreasing diag(H) and group parameters come from the original
 * weights (AutoGPTQ's static groups), so groups stay contiguous and no g_idx is needed.
 */
public final class Gptq {
    public static final double DEFAULT_DAMP = 0.01;
    public static final int BLOCK = 128;

    private Gptq() {}

    public static QuantizedMatrix quantize(float[] weight, int out, int in, double[] hessian, IntRange range, int groupSize, boolean actOrder, double percDamp) {
        return quantize(weight, out, in, hessian, range, groupSize, actOrder, percDamp, null);
    }

    /**
     * As above; beforeRounding (out, in), when given, gets each weight as GPTQ rounded it (the
     * original plus the error pushed onto it from earlier columns): a start for training that
     * rounds to GPTQ's codes (layer-wise distillation).
     */
    public static QuantizedMatrix quantize(float[] weight, int out, int in, double[] hessian, IntRange range, int groupSize, boolean actOrder,
                                           double percDamp, float[] beforeRounding) {
        GroupLayout g = new GroupLayout(in, groupSize);
        int ng = g.groups();
        double[] h = hessian.clone();
        double[][] w = new double[out][in];
        for (int o = 0; o < out; o++) for (int i = 0; i < in; i++) w[o][i] = weight[o * in + i];
        for (int i = 0; i < in; i++) {
            if (h[i * in + i] == 0) {       // a dead input: no information, quantize as zero
                h[i * in + i] = 1;
                for (int o = 0; o < out; o++) w[o][i] = 0;
            }
        }
        float[] scales = new float[out * ng];
        byte[] zeros = new byte[out * ng];
        boolean[] groupReady = new boolean[ng];
        if (actOrder) {                     // static groups from the original weights
            float[] orig = new float[out * in];
            for (int o = 0; o < out; o++) for (int i = 0; i < in; i++) orig[o * in + i] = (float) w[o][i];
            QuantizedMatrix m = QuantizedMatrix.quantize(orig, out, in, range, groupSize, RangeMethod.MIN_MAX);
            System.arraycopy(m.scales(), 0, scales, 0, scales.length);
            System.arraycopy(m.zeros(), 0, zeros, 0, zeros.length);
            Arrays.fill(groupReady, true);
        }
        int[] perm = order(h, in, actOrder);
        double[] hp = permute(h, in, perm);
        double[] u = inverseHessianFactor(hp, in, percDamp);

        byte[] q = new byte[out * in];
        double[][] err = new double[out][BLOCK];
        for (int b0 = 0; b0 < in; b0 += BLOCK) {
            int b1 = Math.min(in, b0 + BLOCK);
            for (int i = b0; i < b1; i++) {
                int col = perm[i], grp = col / g.groupSize();
                if (!groupReady[grp]) {
                    setGroupParams(w, out, g, grp, range, scales, zeros);
                    groupReady[grp] = true;
                }
                double d = u[i * in + i];
                for (int o = 0; o < out; o++) {
                    IntRange.QParams p = new IntRange.QParams(scales[o * ng + grp], zeros[o * ng + grp]);
                    int code = range.quantize((float) w[o][col], p);
                    if (beforeRounding != null) beforeRounding[o * in + col] = (float) w[o][col];
                    q[o * in + col] = (byte) code;
                    double e = (w[o][col] - range.dequantize(code, p)) / d;
                    err[o][i - b0] = e;
                    for (int j = i + 1; j < b1; j++) w[o][perm[j]] -= e * u[i * in + j];
                }
            }
            for (int o = 0; o < out; o++) {           // lazy update of the columns after the block
                double[] wo = w[o], eo = err[o];
                for (int j = b1; j < in; j++) {
                    double s = 0;
                    for (int i = b0; i < b1; i++) s += eo[i - b0] * u[i * in + j];
                    wo[perm[j]] -= s;
                }
            }
        }
        return new QuantizedMatrix(range, out, in, g, q, scales, zeros);
    }

    private static void setGroupParams(double[][] w, int out, GroupLayout g, int grp, IntRange range, float[] scales, byte[] zeros) {
        int ng = g.groups();
        for (int o = 0; o < out; o++) {
            float lo = Float.POSITIVE_INFINITY, hi = Float.NEGATIVE_INFINITY;
            for (int c = g.start(grp); c < g.end(grp); c++) {
                lo = Math.min(lo, (float) w[o][c]);
                hi = Math.max(hi, (float) w[o][c]);
            }
            IntRange.QParams p = range.params(lo, hi);
            scales[o * ng + grp] = p.scale();
            zeros[o * ng + grp] = (byte) p.zero();
        }
    }

    private static int[] order(double[] h, int n, boolean actOrder) {
        Integer[] idx = new Integer[n];
        for (int i = 0; i < n; i++) idx[i] = i;
        if (actOrder) Arrays.sort(idx, (a, b) -> Double.compare(h[b * n + b], h[a * n + a]));
        int[] p = new int[n];
        for (int i = 0; i < n; i++) p[i] = idx[i];
        return p;
    }

    private static double[] permute(double[] h, int n, int[] perm) {
        double[] r = new double[n * n];
        for (int i = 0; i < n; i++) for (int j = 0; j < n; j++) r[i * n + j] = h[perm[i] * n + perm[j]];
        return r;
    }

    /** U with H^-1 = U^T U after dampening; more damping if H is numerically singular. */
    private static double[] inverseHessianFactor(double[] h, int n, double percDamp) {
        double mean = 0;
        for (int i = 0; i < n; i++) mean += h[i * n + i];
        mean /= n;
        for (double damp = percDamp; damp < 1e4; damp *= 10) {
            double[] a = h.clone();
            for (int i = 0; i < n; i++) a[i * n + i] += damp * mean;
            double[] l = DenseMath.cholesky(a, n);
            if (l == null) continue;
            double[] u = DenseMath.upperCholesky(DenseMath.inverseFromCholesky(l, n), n);
            if (u != null) return u;
        }
        throw new IllegalStateException("GPTQ: the Hessian is not positive definite even after dampening");
    }
}
