package dev.quantflow.engine.quant;

import dev.quantflow.engine.compute.Parallel;
import dev.quantflow.engine.model.Fp8Format;
import dev.quantflow.engine.model.LlamaConfig;
import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Forward and backward pass of one Llama decoder layer over flat float64 arrays, for layer-wise
 * distillation (LKD): the same steps as the engine's forward (llama.DecoderForward): x += Wo ·
 * attn(rope(Wq·n1), rope(Wk·n1), Wv·n1), n1 = rmsnorm(x); x += Wdown · (silu(Wgate·n2) * Wup·n2),
 * n2 = rmsnorm(x); causal grouped-query attention within each sequence, positions from 0. The
 * engine's forward is float32 and bound to a KV cache; training needs the intermediates and
 * float64 (so the gradients can be checked against finite differences), hence this twin, checked
 * against the engine's output in the tests. Activations are (rows, width), rows = seqs * seqLen.
 */
public final class DecoderLayerGradients {
    static final VectorSpecies<Double> D = DoubleVector.SPECIES_PREFERRED;
    /** Linear indices, in LayerWeights' order. */
    public static final int Q = 0, K = 1, V = 2, O = 3, GATE = 4, UP = 5, DOWN = 6, LINEARS = 7;

    /** The layer's dimensions and RoPE frequencies (headDim / 2, as the engine's Rope has them). */
    public record Shape(int dim, int heads, int kvHeads, int headDim, int hidden, double eps, float[] invFreq) {
        public static Shape of(LlamaConfig c, float[] invFreq) {
            return new Shape(c.hiddenSize(), c.numHeads(), c.numKvHeads(), c.headDim(), c.intermediateSize(), c.rmsNormEps(), invFreq);
        }

        int qDim() { return heads * headDim; }
        int kvDim() { return kvHeads * headDim; }

        public int out(int linear) {
            return switch (linear) {
                case Q, O -> linear == Q ? qDim() : dim;
                case K, V -> kvDim();
                case GATE, UP -> hidden;
                default -> dim;
            };
        }

        public int in(int linear) {
            return switch (linear) {
                case O -> qDim();
                case DOWN -> hidden;
                default -> dim;
            };
        }
    }

    /** The four linear inputs: of q/k/v (n1), of o_proj (attention output), of gate/up (n2), of down_proj. */
    public static final int IN_QKV = 0, IN_O = 1, IN_GATE_UP = 2, IN_DOWN = 3, INPUTS = 4;

    /** Which of the four inputs linear i reads. */
    public static int inputOf(int linear) {
        return switch (linear) {
            case Q, K, V -> IN_QKV;
            case O -> IN_O;
            case GATE, UP -> IN_GATE_UP;
            default -> IN_DOWN;
        };
    }

    /**
     * Norm weights (dim) and the seven linears (out, in) row-major, with their biases (null when
     * none); int8Inputs (by input, IN_QKV..IN_DOWN; null: none): the linears reading that input see
     * it quantized per token to int8 as W8A8DynamicLinear/W4A8Linear do, and the backward passes the
     * gradient straight through that rounding (the weight gradients use the quantized input).
     */
    public record Params(double[] attnNorm, double[] ffnNorm, double[][] w, double[][] b, boolean[] int8Inputs, boolean[] e4m3Inputs) {
        public Params(double[] attnNorm, double[] ffnNorm, double[][] w, double[][] b) {
            this(attnNorm, ffnNorm, w, b, null);
        }

        public Params(double[] attnNorm, double[] ffnNorm, double[][] w, double[][] b, boolean[] int8Inputs) {
            this(attnNorm, ffnNorm, w, b, int8Inputs, null);
        }

        boolean int8(int input) {
            return int8Inputs != null && int8Inputs[input];
        }

        /** Whether that input is quantized per token to e4m3 (Fp8W8A8Linear's activations), the gradient passed straight through. */
        boolean e4m3(int input) {
            return e4m3Inputs != null && e4m3Inputs[input];
        }

        double[] quantizeInput(int input, double[] x, int rows, int width) {
            if (int8(input)) return int8PerToken(x, rows, width);
            return e4m3(input) ? e4m3PerToken(x, rows, width) : x;
        }
    }

    /** What the backward pass needs from the forward. */
    public record Activations(int seqs, int seqLen, double[] x, double[] r1, double[] n1, double[] q, double[] k, double[] v,
                              double[] p, double[] att, double[] h, double[] r2, double[] n2, double[] gate, double[] up,
                              double[] m, double[] out) {
        public int rows() { return seqs * seqLen; }
    }

    /** Gradients of the seven linears' weights and, when asked, of the layer input. */
    public record Grads(double[][] w, double[] x) {}

    private final Shape s;
    private final double[] cos, sin;   // (maxLen, headDim / 2)

    public DecoderLayerGradients(Shape s, int maxLen) {
        this.s = s;
        int half = s.headDim() / 2;
        cos = new double[maxLen * half];
        sin = new double[maxLen * half];
        for (int pos = 0; pos < maxLen; pos++)
            for (int i = 0; i < half; i++) {
                float angle = pos * s.invFreq()[i];          // as Rope.angles: the angle in float
                cos[pos * half + i] = (float) Math.cos(angle);
                sin[pos * half + i] = (float) Math.sin(angle);
            }
    }

    public Shape shape() {
        return s;
    }

    public Activations forward(Params p, double[] x, int seqs, int seqLen) {
        int n = seqs * seqLen, d = s.dim();
        if (x.length != n * d) throw new IllegalArgumentException("x has " + x.length + " values, expected " + n + " x " + d);
        if (seqLen * (s.headDim() / 2) > cos.length) throw new IllegalArgumentException("sequences of " + seqLen + " exceed the RoPE table");
        double[] r1 = new double[n], n1 = rmsnorm(x, p.attnNorm(), n, d, s.eps(), r1);
        // a linear input that is quantized is kept quantized: the only other reader is the weight gradient
        n1 = p.quantizeInput(IN_QKV, n1, n, d);
        double[] q = linear(n1, n, p, Q), k = linear(n1, n, p, K), v = linear(n1, n, p, V);
        rope(q, n, seqLen, s.heads(), false);
        rope(k, n, seqLen, s.kvHeads(), false);
        double[] prob = new double[seqs * s.heads() * seqLen * seqLen];
        double[] att = attention(q, k, v, seqs, seqLen, prob);
        att = p.quantizeInput(IN_O, att, n, s.qDim());
        double[] h = linear(att, n, p, O);
        for (int i = 0; i < h.length; i++) h[i] += x[i];
        double[] r2 = new double[n], n2 = rmsnorm(h, p.ffnNorm(), n, d, s.eps(), r2);
        n2 = p.quantizeInput(IN_GATE_UP, n2, n, d);
        double[] gate = linear(n2, n, p, GATE), up = linear(n2, n, p, UP);
        double[] m = new double[gate.length];
        for (int i = 0; i < m.length; i++) m[i] = silu(gate[i]) * up[i];
        m = p.quantizeInput(IN_DOWN, m, n, s.hidden());
        double[] out = linear(m, n, p, DOWN);
        for (int i = 0; i < out.length; i++) out[i] += h[i];
        return new Activations(seqs, seqLen, x, r1, n1, q, k, v, prob, att, h, r2, n2, gate, up, m, out);
    }

    /** Gradients of a loss whose gradient with respect to the layer output is dOut (rows, dim). */
    public Grads backward(Params p, Activations a, double[] dOut, boolean inputGradient) {
        int n = a.rows(), d = s.dim(), hid = s.hidden();
        double[][] dw = new double[LINEARS][];
        // MLP: out = h + Wdown m, m = silu(gate) * up
        dw[DOWN] = weightGrad(dOut, a.m(), n, d, hid);
        double[] dm = inputGrad(dOut, p.w()[DOWN], n, d, hid);
        double[] dGate = new double[n * hid], dUp = new double[n * hid];
        for (int i = 0; i < dm.length; i++) {
            double g = a.gate()[i], sg = sigmoid(g);
            dUp[i] = dm[i] * g * sg;
            dGate[i] = dm[i] * a.up()[i] * sg * (1 + g * (1 - sg));
        }
        dw[GATE] = weightGrad(dGate, a.n2(), n, hid, d);
        dw[UP] = weightGrad(dUp, a.n2(), n, hid, d);
        double[] dn2 = inputGrad(dGate, p.w()[GATE], n, hid, d);
        addInto(dn2, inputGrad(dUp, p.w()[UP], n, hid, d));
        double[] dh = rmsnormBackward(a.h(), p.ffnNorm(), a.r2(), dn2, n, d);
        addInto(dh, dOut);
        // attention: h = x + Wo att
        dw[O] = weightGrad(dh, a.att(), n, d, s.qDim());
        double[] dAtt = inputGrad(dh, p.w()[O], n, d, s.qDim());
        double[] dq = new double[n * s.qDim()], dk = new double[n * s.kvDim()], dv = new double[n * s.kvDim()];
        attentionBackward(a.q(), a.k(), a.v(), a.p(), dAtt, a.seqs(), a.seqLen(), dq, dk, dv);
        rope(dq, n, a.seqLen(), s.heads(), true);
        rope(dk, n, a.seqLen(), s.kvHeads(), true);
        dw[Q] = weightGrad(dq, a.n1(), n, s.qDim(), d);
        dw[K] = weightGrad(dk, a.n1(), n, s.kvDim(), d);
        dw[V] = weightGrad(dv, a.n1(), n, s.kvDim(), d);
        double[] dx = null;
        if (inputGradient) {
            double[] dn1 = inputGrad(dq, p.w()[Q], n, s.qDim(), d);
            addInto(dn1, inputGrad(dk, p.w()[K], n, s.kvDim(), d));
            addInto(dn1, inputGrad(dv, p.w()[V], n, s.kvDim(), d));
            dx = rmsnormBackward(a.x(), p.attnNorm(), a.r1(), dn1, n, d);
            addInto(dx, dh);
        }
        return new Grads(dw, dx);
    }

    // ---- the pieces (package-private for the finite-difference tests) ----

    /**
     * x (rows, width) through ActivationQuant's per-token int8 round trip, in float as the engine
     * has it: scale max|x|/127 per row, codes round(x / scale) clamped to +-127, back as code * scale.
     */
    static double[] int8PerToken(double[] x, int rows, int width) {
        double[] y = new double[x.length];
        float[] row = new float[width];
        for (int r = 0; r < rows; r++) {
            for (int i = 0; i < width; i++) row[i] = (float) x[r * width + i];
            ActivationQuant a = ActivationQuant.quantize(row, 1, GroupLayout.perRow(width));
            float scale = a.scales()[0];
            for (int i = 0; i < width; i++) y[r * width + i] = (double) a.q()[i] * scale;
        }
        return y;
    }

    /**
     * x (rows, width) through Fp8W8A8Linear's per-token e4m3 round trip, in float as the engine has
     * it: scale max|x| / 448 per row, code encode(x / scale) (round to nearest even), back as code * scale.
     */
    static double[] e4m3PerToken(double[] x, int rows, int width) {
        double[] y = new double[x.length];
        float[] row = new float[width];
        for (int r = 0; r < rows; r++) {
            float max = 0f;
            for (int i = 0; i < width; i++) max = Math.max(max, Math.abs(row[i] = (float) x[r * width + i]));
            float scale = Fp8Matrix.scaleFor(max, Fp8Format.E4M3);
            for (int i = 0; i < width; i++) y[r * width + i] = (double) Fp8Format.E4M3.decode(Fp8Format.E4M3.encode(row[i] / scale)) * scale;
        }
        return y;
    }

    /** out = x * g / sqrt(mean(x^2) + eps) row by row; r gets each row's 1 / rms. */
    static double[] rmsnorm(double[] x, double[] g, int rows, int d, double eps, double[] r) {
        double[] out = new double[rows * d];
        for (int row = 0; row < rows; row++) {
            int o = row * d;
            double ss = dot(x, o, x, o, d);
            double inv = 1 / Math.sqrt(ss / d + eps);
            r[row] = inv;
            for (int i = 0; i < d; i++) out[o + i] = x[o + i] * inv * g[i];
        }
        return out;
    }

    /** dx of rmsnorm: r (g dy) - r^3 / d x sum_j (g_j dy_j x_j). */
    static double[] rmsnormBackward(double[] x, double[] g, double[] r, double[] dy, int rows, int d) {
        double[] dx = new double[rows * d];
        for (int row = 0; row < rows; row++) {
            int o = row * d;
            double inv = r[row], sum = 0;
            for (int i = 0; i < d; i++) sum += g[i] * dy[o + i] * x[o + i];
            double c = inv * inv * inv * sum / d;
            for (int i = 0; i < d; i++) dx[o + i] = inv * g[i] * dy[o + i] - c * x[o + i];
        }
        return dx;
    }

    private double[] linear(double[] x, int rows, Params p, int which) {
        return linear(x, rows, p.w()[which], p.b()[which], s.out(which), s.in(which));
    }

    /** y (rows, out) = x (rows, in) W^T + b. */
    static double[] linear(double[] x, int rows, double[] w, double[] b, int out, int in) {
        double[] y = new double[rows * out];
        Parallel.range(rows, (long) out * in, (r0, r1) -> {
            for (int r = r0; r < r1; r++)
                for (int o = 0; o < out; o++) y[r * out + o] = dot(x, r * in, w, o * in, in) + (b == null ? 0 : b[o]);
        });
        return y;
    }

    /** dx (rows, in) = dy (rows, out) W. */
    static double[] inputGrad(double[] dy, double[] w, int rows, int out, int in) {
        double[] dx = new double[rows * in];
        Parallel.range(rows, (long) out * in, (r0, r1) -> {
            for (int r = r0; r < r1; r++)
                for (int o = 0; o < out; o++) {
                    double g = dy[r * out + o];
                    if (g != 0) axpy(dx, r * in, g, w, o * in, in);
                }
        });
        return dx;
    }

    /** dW (out, in) = dy^T (out, rows) x (rows, in). */
    static double[] weightGrad(double[] dy, double[] x, int rows, int out, int in) {
        double[] dw = new double[out * in];
        Parallel.range(out, (long) rows * in, (o0, o1) -> {
            for (int o = o0; o < o1; o++)
                for (int r = 0; r < rows; r++) {
                    double g = dy[r * out + o];
                    if (g != 0) axpy(dw, o * in, g, x, r * in, in);
                }
        });
        return dw;
    }

    /**
     * Rotates heads of every row at its position within its sequence (row % seqLen), rotate-half
     * layout as the engine's Rope; inverse = the transposed rotation (the backward pass).
     */
    void rope(double[] x, int rows, int seqLen, int heads, boolean inverse) {
        int hd = s.headDim(), half = hd / 2, width = heads * hd;
        for (int row = 0; row < rows; row++) {
            int co = (row % seqLen) * half;
            for (int h = 0; h < heads; h++) {
                int b = row * width + h * hd;
                for (int i = 0; i < half; i++) {
                    double x0 = x[b + i], x1 = x[b + i + half], c = cos[co + i], sn = inverse ? -sin[co + i] : sin[co + i];
                    x[b + i] = x0 * c - x1 * sn;
                    x[b + i + half] = x1 * c + x0 * sn;
                }
            }
        }
    }

    /** Causal grouped-query attention per sequence; prob gets the softmax (seqs, heads, seqLen, seqLen). */
    double[] attention(double[] q, double[] k, double[] v, int seqs, int seqLen, double[] prob) {
        int hd = s.headDim(), qd = s.qDim(), kvd = s.kvDim(), group = s.heads() / s.kvHeads();
        double scale = (float) (1.0 / Math.sqrt(hd));   // as the KV cache's attentionScale
        double[] out = new double[seqs * seqLen * qd];
        Parallel.range(seqs * s.heads(), (long) seqLen * seqLen * hd, (u0, u1) -> {
            for (int u = u0; u < u1; u++) {
                int seq = u / s.heads(), h = u % s.heads(), kvOff = (h / group) * hd, base = seq * seqLen;
                int pOff = u * seqLen * seqLen;
                for (int i = 0; i < seqLen; i++) {
                    int qo = (base + i) * qd + h * hd, pr = pOff + i * seqLen;
                    double max = Double.NEGATIVE_INFINITY;
                    for (int j = 0; j <= i; j++) {
                        double sc = dot(q, qo, k, (base + j) * kvd + kvOff, hd) * scale;
                        prob[pr + j] = sc;
                        max = Math.max(max, sc);
                    }
                    double sum = 0;
                    for (int j = 0; j <= i; j++) sum += prob[pr + j] = Math.exp(prob[pr + j] - max);
                    for (int j = 0; j <= i; j++) {
                        prob[pr + j] /= sum;
                        axpy(out, qo, prob[pr + j], v, (base + j) * kvd + kvOff, hd);
                    }
                }
            }
        });
        return out;
    }

    /** dq, dk, dv of the attention from dOut and the forward's probabilities (dk, dv summed over a group's heads). */
    void attentionBackward(double[] q, double[] k, double[] v, double[] prob, double[] dOut, int seqs, int seqLen,
                           double[] dq, double[] dk, double[] dv) {
        int hd = s.headDim(), qd = s.qDim(), kvd = s.kvDim(), group = s.heads() / s.kvHeads();
        double scale = (float) (1.0 / Math.sqrt(hd));
        // one task per (sequence, kv head): the heads of a group add into the same dk, dv rows
        Parallel.range(seqs * s.kvHeads(), (long) group * seqLen * seqLen * hd * 2, (u0, u1) -> {
            double[] ds = new double[seqLen];
            for (int u = u0; u < u1; u++) {
                int seq = u / s.kvHeads(), kh = u % s.kvHeads(), kvOff = kh * hd, base = seq * seqLen;
                for (int h = kh * group; h < (kh + 1) * group; h++) {
                    int pOff = (seq * s.heads() + h) * seqLen * seqLen;
                    for (int i = 0; i < seqLen; i++) {
                        int qo = (base + i) * qd + h * hd, pr = pOff + i * seqLen;
                        double dot = 0;
                        for (int j = 0; j <= i; j++) {
                            int kvo = (base + j) * kvd + kvOff;
                            axpy(dv, kvo, prob[pr + j], dOut, qo, hd);
                            ds[j] = dot(dOut, qo, v, kvo, hd);   // dP_ij
                            dot += prob[pr + j] * ds[j];
                        }
                        for (int j = 0; j <= i; j++) {
                            int kvo = (base + j) * kvd + kvOff;
                            double g = prob[pr + j] * (ds[j] - dot) * scale;   // d(score) * d(score)/d(q.k)
                            axpy(dq, qo, g, k, kvo, hd);
                            axpy(dk, kvo, g, q, qo, hd);
                        }
                    }
                }
            }
        });
    }

    static double silu(double x) {
        return x * sigmoid(x);
    }

    static double sigmoid(double x) {
        return 1 / (1 + Math.exp(-x));
    }

    static void addInto(double[] a, double[] b) {
        for (int i = 0; i < a.length; i++) a[i] += b[i];
    }

    static double dot(double[] a, int ao, double[] b, int bo, int n) {
        int L = D.length(), i = 0;
        DoubleVector acc = DoubleVector.zero(D);
        for (; i <= n - L; i += L) acc = DoubleVector.fromArray(D, a, ao + i).fma(DoubleVector.fromArray(D, b, bo + i), acc);
        double sum = acc.reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) sum += a[ao + i] * b[bo + i];
        return sum;
    }

    /** a[ao..] += s * b[bo..] over n. */
    static void axpy(double[] a, int ao, double s, double[] b, int bo, int n) {
        int L = D.length(), i = 0;
        DoubleVector sv = DoubleVector.broadcast(D, s);
        for (; i <= n - L; i += L) DoubleVector.fromArray(D, b, bo + i).fma(sv, DoubleVector.fromArray(D, a, ao + i)).intoArray(a, ao + i);
        for (; i < n; i++) a[ao + i] += s * b[bo + i];
    }
}
