package dev.quantflow.gpu.verify;

import dev.quantflow.gpu.CudaKernels.Path;
import dev.quantflow.gpu.WeightPacking.Int4Groups;
import dev.quantflow.gpu.WeightPacking.Int8Channel;
import dev.quantflow.gpu.WeightPacking.Int8Groups;

/**
 * The kernels' semantics in plain fp32 Java (reciprocal-scale quantization, int32 accumulation,
 * online softmax, fp32 epilogues), for running KernelCheck where there is no GPU. Not a fast path.
 */
public class JavaKernelOps implements KernelOps {
    @Override
    public String name() {
        return "java";
    }

    private static byte quantize(float v, float inv) {
        return (byte) Math.max(-127f, Math.min(127f, (float) Math.rint(v * inv)));
    }

    @Override
    public Int8Rows quantizeRows(float[] x, int M, int K) {
        return quantizeGroups(x, M, K, K);
    }

    @Override
    public Int8Rows quantizeGroups(float[] x, int M, int K, int G) {
        int groups = K / G;
        byte[] q = new byte[M * K];
        float[] s = new float[M * groups];
        for (int m = 0; m < M; m++)
            for (int g = 0; g < groups; g++) {
                float amax = 0;
                for (int k = g * G; k < (g + 1) * G; k++) amax = Math.max(amax, Math.abs(x[m * K + k]));
                float inv = amax > 0 ? 127f / amax : 0f;
                s[m * groups + g] = amax / 127f;
                for (int k = g * G; k < (g + 1) * G; k++) q[m * K + k] = quantize(x[m * K + k], inv);
            }
        return new Int8Rows(q, s);
    }

    @Override
    public int[] outlierColumns(float[] x, int M, int K, float threshold) {
        int[] flags = new int[(K + 31) / 32];
        for (int m = 0; m < M; m++)
            for (int k = 0; k < K; k++)
                if (Math.abs(x[m * K + k]) >= threshold) flags[k >> 5] |= 1 << (k & 31);
        int n = 0;
        for (int f : flags) n += Integer.bitCount(f);
        int[] cols = new int[n];
        int at = 0;
        for (int w = 0; w < flags.length; w++)
            for (int b = 0; b < 32; b++) if ((flags[w] >>> b & 1) != 0) cols[at++] = w * 32 + b;
        return cols;
    }

    @Override
    public Masked quantizeMasked(float[] x, int M, int K, int[] cols) {
        boolean[] out = new boolean[K];
        for (int c : cols) out[c] = true;
        byte[] q = new byte[M * K];
        float[] s = new float[M], xo = new float[M * cols.length];
        for (int m = 0; m < M; m++) {
            float amax = 0;
            for (int k = 0; k < K; k++) if (!out[k]) amax = Math.max(amax, Math.abs(x[m * K + k]));
            float inv = amax > 0 ? 127f / amax : 0f;
            s[m] = amax / 127f;
            for (int k = 0; k < K; k++) q[m * K + k] = out[k] ? 0 : quantize(x[m * K + k], inv);
            for (int j = 0; j < cols.length; j++) xo[m * cols.length + j] = x[m * K + cols[j]];
        }
        return new Masked(q, s, xo);
    }

    @Override
    public float[] llmInt8(float[] x, int M, Int8Channel w, float[] bias, float threshold, Path path) {
        int K = w.in(), N = w.out();
        int[] cols = Float.isInfinite(threshold) ? new int[0] : outlierColumns(x, M, K, threshold);
        Masked mq = quantizeMasked(x, M, K, cols);
        float[] y = new float[M * N];
        for (int m = 0; m < M; m++)
            for (int n = 0; n < N; n++) {
                int acc = 0;
                for (int k = 0; k < K; k++) acc += mq.q()[m * K + k] * w.q()[n * K + k];
                float v = acc * mq.scales()[m];
                for (int j = 0; j < cols.length; j++) v = Math.fma(mq.outlierValues()[m * cols.length + j], (float) w.q()[n * K + cols[j]], v);
                y[m * N + n] = Math.fma(v, w.scales()[n], bias == null ? 0f : bias[n]);
            }
        return y;
    }

    @Override
    public float[] w8a8(float[] x, int M, Int8Groups w, float[] bias, Path path) {
        int K = w.in(), N = w.out(), G = w.group(), groups = K / G;
        Int8Rows xq = quantizeGroups(x, M, K, G);
        float[] y = new float[M * N];
        for (int m = 0; m < M; m++)
            for (int n = 0; n < N; n++) {
                float s = 0;
                for (int g = 0; g < groups; g++) {
                    int acc = 0;
                    for (int k = g * G; k < (g + 1) * G; k++) acc += xq.q()[m * K + k] * w.q()[n * K + k];
                    s += acc * xq.scales()[m * groups + g] * w.scales()[n * groups + g];
                }
                y[m * N + n] = s + (bias == null ? 0f : bias[n]);
            }
        return y;
    }

    private interface FloatWeight {
        float at(int n, int k);
    }

    private static float[] matmul(float[] x, int M, int N, int K, FloatWeight w, float[] bias) {
        float[] y = new float[M * N];
        for (int n = 0; n < N; n++)
            for (int m = 0; m < M; m++) {
                float s = 0;
                for (int k = 0; k < K; k++) s = Math.fma(x[m * K + k], w.at(n, k), s);
                y[m * N + n] = s + (bias == null ? 0f : bias[n]);
            }
        return y;
    }

    @Override
    public float[] dense(float[] x, int M, DenseWeights w, float[] bias, Path path) {
        return matmul(x, M, w.out(), w.in(), (n, k) -> (float) Reference.decode(w, (long) n * w.in() + k), bias);
    }

    @Override
    public float[] w4a16(float[] x, int M, Int4Groups w, float[] bias, Path path) {
        return matmul(x, M, w.out(), w.in(), w::dequant, bias);
    }

    @Override
    public float[] embed(DenseWeights table, int[] ids) {
        int D = table.in();
        float[] out = new float[ids.length * D];
        for (int r = 0; r < ids.length; r++)
            for (int i = 0; i < D; i++) out[r * D + i] = (float) Reference.decode(table, (long) ids[r] * D + i);
        return out;
    }

    @Override
    public float[] rmsnorm(float[] x, float[] weight, int M, int D, float eps) {
        float[] out = new float[M * D];
        for (int m = 0; m < M; m++) {
            float ss = 0;
            for (int i = 0; i < D; i++) ss = Math.fma(x[m * D + i], x[m * D + i], ss);
            float inv = (float) (1.0 / Math.sqrt(ss / D + eps));
            for (int i = 0; i < D; i++) out[m * D + i] = x[m * D + i] * inv * weight[i];
        }
        return out;
    }

    @Override
    public float[] rope(float[] x, int[] positions, float[] invFreq, int M, int heads, int hd) {
        float[] out = x.clone();
        int half = hd / 2;
        for (int m = 0; m < M; m++)
            for (int h = 0; h < heads; h++)
                for (int i = 0; i < half; i++) {
                    int b = m * heads * hd + h * hd;
                    float angle = positions[m] * invFreq[i];
                    float c = (float) Math.cos(angle), s = (float) Math.sin(angle), x0 = x[b + i], x1 = x[b + i + half];
                    out[b + i] = x0 * c - x1 * s;
                    out[b + i + half] = x1 * c + x0 * s;
                }
        return out;
    }

    @Override
    public float[] attention(AttentionCase c) {
        int kvDim = c.kvDim(), hd = c.headDim(), group = c.numHeads() / c.numKvHeads(), qDim = c.numHeads() * hd;
        float[] kc = c.kCache().clone(), vc = c.vCache().clone();
        for (int r = 0; r < c.rows(); r++) {
            System.arraycopy(c.k(), r * kvDim, kc, c.slot(r, c.positions()[r]) * kvDim, kvDim);
            System.arraycopy(c.v(), r * kvDim, vc, c.slot(r, c.positions()[r]) * kvDim, kvDim);
        }
        float[] out = new float[c.rows() * qDim];
        float scale = (float) (1.0 / Math.sqrt(hd));
        for (int r = 0; r < c.rows(); r++)
            for (int h = 0; h < c.numHeads(); h++) {
                int kvOff = (h / group) * hd;
                float m = Float.NEGATIVE_INFINITY, l = 0;
                float[] acc = new float[hd];
                for (int t = 0; t <= c.positions()[r]; t++) {   // online softmax, one pass, as the kernel does
                    int base = c.slot(r, t) * kvDim + kvOff;
                    float s = 0;
                    for (int i = 0; i < hd; i++) s = Math.fma(c.q()[r * qDim + h * hd + i], kc[base + i], s);
                    s *= scale;
                    float mNew = Math.max(m, s), corr = (float) Math.exp(m - mNew), p = (float) Math.exp(s - mNew);
                    l = l * corr + p;
                    for (int i = 0; i < hd; i++) acc[i] = acc[i] * corr + p * vc[base + i];
                    m = mNew;
                }
                for (int i = 0; i < hd; i++) out[r * qDim + h * hd + i] = acc[i] / l;
            }
        return out;
    }

    @Override
    public float[] siluGate(float[] gate, float[] up) {
        float[] out = new float[gate.length];
        for (int i = 0; i < gate.length; i++) out[i] = gate[i] / (1f + (float) Math.exp(-gate[i])) * up[i];
        return out;
    }

    @Override
    public float[] add(float[] x, float[] y) {
        float[] out = new float[x.length];
        for (int i = 0; i < x.length; i++) out[i] = x[i] + y[i];
        return out;
    }
}
