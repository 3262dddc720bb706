package dev.quantflow.gpu.verify;

import dev.quantflow.gpu.WeightPacking.Int4Groups;
import dev.quantflow.gpu.WeightPacking.Int8Channel;
import dev.quantflow.gpu.WeightPacking.Int8Groups;
import java.util.ArrayList;
import java.util.List;

/**
 * The float64 reference every kernel is held against: the same function written as directly as
 * possible (no tiling, no online softmax, divisions instead of reciprocals), in double.
 */
public final class Reference {
    private Reference() {}

    public static double[] quantScales(float[] x, int M, int K, int G) {
        double[] s = new double[M * (K / G)];
        for (int m = 0; m < M; m++)
            for (int g = 0; g < K / G; g++) {
                double amax = 0;
                for (int k = g * G; k < (g + 1) * G; k++) amax = Math.max(amax, Math.abs(x[m * K + k]));
                s[m * (K / G) + g] = amax / 127;
            }
        return s;
    }

    static int code(double v, double scale) {
        return scale == 0 ? 0 : (int) Math.max(-127, Math.min(127, Math.rint(v / scale)));
    }

    public static int[] outlierColumns(float[] x, int M, int K, float threshold) {
        List<Integer> cols = new ArrayList<>();
        for (int k = 0; k < K; k++)
            for (int m = 0; m < M; m++)
                if (Math.abs(x[m * K + k]) >= threshold) {
                    cols.add(k);
                    break;
                }
        return cols.stream().mapToInt(Integer::intValue).toArray();
    }

    /** x · W^T exactly, W given as a function (n, k) -> weight. */
    interface Weight {
        double at(int n, int k);
    }

    static double[] matmul(float[] x, int M, int N, int K, Weight w, float[] bias) {
        double[] y = new double[M * N];
        for (int m = 0; m < M; m++)
            for (int n = 0; n < N; n++) {
                double s = bias == null ? 0 : bias[n];
                for (int k = 0; k < K; k++) s += x[m * K + k] * w.at(n, k);
                y[m * N + n] = s;
            }
        return y;
    }

    public static double[] llmInt8(float[] x, int M, Int8Channel w, float[] bias, float threshold) {
        int K = w.in(), N = w.out();
        boolean[] outlier = new boolean[K];
        if (!Float.isInfinite(threshold)) for (int c : outlierColumns(x, M, K, threshold)) outlier[c] = true;
        double[] y = new double[M * N];
        for (int m = 0; m < M; m++) {
            double amax = 0;
            for (int k = 0; k < K; k++) if (!outlier[k]) amax = Math.max(amax, Math.abs(x[m * K + k]));
            double sx = amax / 127;
            int[] q = new int[K];
            for (int k = 0; k < K; k++) q[k] = outlier[k] ? 0 : code(x[m * K + k], sx);
            for (int n = 0; n < N; n++) {
                long acc = 0;
                double out = 0;
                for (int k = 0; k < K; k++) {
                    acc += (long) q[k] * w.q()[n * K + k];
                    if (outlier[k]) out += x[m * K + k] * (double) w.q()[n * K + k];
                }
                y[m * N + n] = w.scales()[n] * (sx * acc + out) + (bias == null ? 0 : bias[n]);
            }
        }
        return y;
    }

    public static double[] w8a8(float[] x, int M, Int8Groups w, float[] bias) {
        int K = w.in(), N = w.out(), G = w.group(), groups = K / G;
        double[] sx = quantScales(x, M, K, G);
        double[] y = new double[M * N];
        for (int m = 0; m < M; m++)
            for (int n = 0; n < N; n++) {
                double s = bias == null ? 0 : bias[n];
                for (int g = 0; g < groups; g++) {
                    long acc = 0;
                    for (int k = g * G; k < (g + 1) * G; k++) acc += (long) code(x[m * K + k], sx[m * groups + g]) * w.q()[n * K + k];
                    s += acc * sx[m * groups + g] * w.scales()[n * groups + g];
                }
                y[m * N + n] = s;
            }
        return y;
    }

    public static double[] dense(float[] x, int M, KernelOps.DenseWeights w, float[] bias) {
        return matmul(x, M, w.out(), w.in(), (n, k) -> decode(w, (long) n * w.in() + k), bias);
    }

    public static double[] exact(float[] x, int M, float[] weight, int N, int K, float[] bias) {
        return matmul(x, M, N, K, (n, k) -> weight[n * K + k], bias);
    }

    public static double[] w4a16(float[] x, int M, Int4Groups w, float[] bias) {
        return matmul(x, M, w.out(), w.in(), w::dequant, bias);
    }

    static double decode(KernelOps.DenseWeights w, long i) {
        byte[] b = w.raw();
        return switch (w.type()) {
            case F32 -> Float.intBitsToFloat((b[(int) (4 * i)] & 0xff) | (b[(int) (4 * i) + 1] & 0xff) << 8 | (b[(int) (4 * i) + 2] & 0xff) << 16 | (b[(int) (4 * i) + 3] & 0xff) << 24);
            case BF16 -> Float.intBitsToFloat(((b[(int) (2 * i)] & 0xff) | (b[(int) (2 * i) + 1] & 0xff) << 8) << 16);
            case F16 -> Float.float16ToFloat((short) ((b[(int) (2 * i)] & 0xff) | (b[(int) (2 * i) + 1] & 0xff) << 8));
        };
    }

    public static double[] embed(KernelOps.DenseWeights table, int[] ids) {
        int D = table.in();
        double[] out = new double[ids.length * D];
        for (int r = 0; r < ids.length; r++)
            for (int i = 0; i < D; i++) out[r * D + i] = decode(table, (long) ids[r] * D + i);
        return out;
    }

    public static double[] rmsnorm(float[] x, float[] weight, int M, int D, float eps) {
        double[] out = new double[M * D];
        for (int m = 0; m < M; m++) {
            double ss = 0;
            for (int i = 0; i < D; i++) ss += (double) x[m * D + i] * x[m * D + i];
            double inv = 1 / Math.sqrt(ss / D + eps);
            for (int i = 0; i < D; i++) out[m * D + i] = x[m * D + i] * inv * weight[i];
        }
        return out;
    }

    public static double[] rope(float[] x, int[] positions, float[] invFreq, int M, int heads, int hd) {
        double[] out = new double[x.length];
        int half = hd / 2;
        for (int m = 0; m < M; m++)
            for (int h = 0; h < heads; h++)
                for (int i = 0; i < half; i++) {
                    int b = m * heads * hd + h * hd;
                    double angle = positions[m] * invFreq[i];   // the fp32 angle, as the engine (and HF) compute it
                    double c = Math.cos(angle), s = Math.sin(angle), x0 = x[b + i], x1 = x[b + i + half];
                    out[b + i] = x0 * c - x1 * s;
                    out[b + i + half] = x1 * c + x0 * s;
                }
        return out;
    }

    public static double[] attention(KernelOps.AttentionCase c) {
        int kvDim = c.kvDim(), hd = c.headDim(), group = c.numHeads() / c.numKvHeads(), qDim = c.numHeads() * hd;
        double[] kc = new double[c.kCache().length], vc = new double[c.vCache().length];
        for (int i = 0; i < kc.length; i++) {
            kc[i] = c.kCache()[i];
            vc[i] = c.vCache()[i];
        }
        for (int r = 0; r < c.rows(); r++)
            for (int i = 0; i < kvDim; i++) {
                kc[c.slot(r, c.positions()[r]) * kvDim + i] = c.k()[r * kvDim + i];
                vc[c.slot(r, c.positions()[r]) * kvDim + i] = c.v()[r * kvDim + i];
            }
        double[] out = new double[c.rows() * qDim];
        for (int r = 0; r < c.rows(); r++) {
            int pos = c.positions()[r];
            for (int h = 0; h < c.numHeads(); h++) {
                int kvOff = (h / group) * hd;
                double[] score = new double[pos + 1];
                double max = Double.NEGATIVE_INFINITY;
                for (int t = 0; t <= pos; t++) {
                    double s = 0;
                    for (int i = 0; i < hd; i++) s += c.q()[r * qDim + h * hd + i] * kc[c.slot(r, t) * kvDim + kvOff + i];
                    score[t] = s / Math.sqrt(hd);
                    max = Math.max(max, score[t]);
                }
                double sum = 0;
                for (int t = 0; t <= pos; t++) sum += score[t] = Math.exp(score[t] - max);
                for (int i = 0; i < hd; i++) {
                    double o = 0;
                    for (int t = 0; t <= pos; t++) o += score[t] * vc[c.slot(r, t) * kvDim + kvOff + i];
                    out[r * qDim + h * hd + i] = o / sum;
                }
            }
        }
        return out;
    }

    public static double[] siluGate(float[] gate, float[] up) {
        double[] out = new double[gate.length];
        for (int i = 0; i < gate.length; i++) out[i] = gate[i] / (1 + Math.exp(-gate[i])) * up[i];
        return out;
    }

    public static double[] add(float[] x, float[] y) {
        double[] out = new double[x.length];
        for (int i = 0; i < x.length; i++) out[i] = (double) x[i] + y[i];
        return out;
    }

    /** ||got - ref|| / ||ref|| (Frobenius); NaN when got holds a NaN or infinity. */
    public static double relativeError(float[] got, double[] ref) {
        if (got.length != ref.length) throw new IllegalArgumentException("length " + got.length + " vs " + ref.length);
        double num = 0, den = 0;
        for (int i = 0; i < got.length; i++) {
            if (!Float.isFinite(got[i])) return Double.NaN;
            num += (got[i] - ref[i]) * (got[i] - ref[i]);
            den += ref[i] * ref[i];
        }
        return den == 0 ? Math.sqrt(num) : Math.sqrt(num / den);
    }
}
