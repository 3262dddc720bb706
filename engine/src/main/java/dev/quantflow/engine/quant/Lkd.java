package dev.quantflow.engine.quant;

import dev.quantflow.engine.model.Fp8Format;
import dev.quantflow.engine.model.LlamaConfig;
import dev.quantflow.engine.model.Tensor;
import dev.quantflow.engine.model.WeightStore;
import dev.quantflow.engine.progress.Progress;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * ZeroQuant's layer-by-layer knowledge distillation (Yao et al. 2022, LKD): for each decoder
 * layer in turn the fp32 layer is the teacher and its quantized copy the student, both fed the
 * teacher's input (the fp32 model's hidden state at that layer on the calibration text). The
 * student's latent fp32 weights are trained with Adam to minimise the MSE of the layer output;
 * the forward uses the quantize-dequantize of the latent weights on the scheme's grid, the
 * backward passes the gradient straight through the rounding to the latent (straight-through
 * estimator). By default the grid (each (row, group)'s scale and zero point) stays the starting
 * one, round to nearest's min-max grid of the fp32 weights or GPTQ's, and only the codes change;
 * lkd-scales=latent recomputes the min-max grid from the latent weights at every step instead.
 * Only linears whose scheme says lkd=true are trained; the others in the layer take part
 * quantized as their scheme has them. Norm weights stay fp32. Linears with int8 activations
 * (w8a8-dynamic, w4a8) see their input quantized per token in the student's forward too, the
 * gradient passed straight through that rounding as well.
 */
public final class Lkd {
    /**
     * steps per layer, Adam learning rate, tokens per training sequence, sequences per step;
     * fixedScales: each (row, group)'s scale and zero point stay those of the start (round to
     * nearest's min-max grid of the fp32 weights, or GPTQ's grid), the latent weights clamped into
     * its range; otherwise they follow the latent weights' min-max at every step.
     */
    public record Settings(int steps, double lr, int seqLen, int batch, boolean fixedScales) {
        public static final Settings DEFAULT = new Settings(200, 3e-5, 128, 1, true);
    }

    /** Per layer, the calibration MSE of the layer output before and after training (the kept weights' loss is the smaller). */
    public record LayerLoss(int layer, double before, double after) {}

    /** The trained linears, quantized (name -> codes on their grid), and each layer's losses. */
    public record Result(Map<String, QuantizedMatrix> quantized, Map<String, Fp8Matrix> fp8, List<LayerLoss> losses) {}

    /**
     * Where a linear's training starts: latent weights and the grid they are quantized on (fixed
     * scales): an integer one (grid), or for fp8-w8a8 the e4m3 codes' per-row scales (fp8Grid).
     */
    public record Start(float[] latent, QuantizedMatrix grid, Fp8Matrix fp8Grid) {
        public Start(float[] latent, QuantizedMatrix grid) {
            this(latent, grid, null);
        }
    }

    static final String[] SUFFIX = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
            "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"};

    private Lkd() {}

    /**
     * Distils every decoder layer that has a linear with lkd=true. init: where a linear starts (GPTQ's
     * error-compensated weights on GPTQ's grid); one absent from it starts from its fp32 weights on
     * their min-max grid. Returns the trained linears quantized.
     */
    public static Result distill(LlamaConfig c, WeightStore weights, float[] invFreq, Map<String, QuantScheme> schemes,
                                 Map<String, Start> init, int[] calibTokens, Settings st) {
        for (int l = 0; l < c.numLayers(); l++)
            if (c.attentionWindow(l) > 0 && c.attentionWindow(l) < st.seqLen())
                throw new IllegalArgumentException("lkd: layer " + l + " has a sliding attention window of " + c.attentionWindow(l) + ", shorter than the " + st.seqLen() + "-token training sequences");
        int seqs = calibTokens.length / st.seqLen();
        if (seqs < 1) throw new IllegalArgumentException("lkd needs at least " + st.seqLen() + " calibration tokens, got " + calibTokens.length);
        int n = seqs * st.seqLen(), d = c.hiddenSize();
        DecoderLayerGradients g = new DecoderLayerGradients(DecoderLayerGradients.Shape.of(c, invFreq), st.seqLen());
        Map<String, QuantizedMatrix> out = new LinkedHashMap<>();
        Map<String, Fp8Matrix> outFp8 = new LinkedHashMap<>();
        List<LayerLoss> losses = new ArrayList<>();
        Progress progress = Progress.current();
        List<Integer> layers = new ArrayList<>();
        for (int l = 0; l < c.numLayers(); l++) {
            int layer = l;
            if (java.util.Arrays.stream(SUFFIX).anyMatch(sfx -> schemes.get(LinearNames.layer(layer, sfx)).lkd())) layers.add(l);
        }
        double[] x = embed(c, weights, calibTokens, n);   // the teacher's hidden state, advanced layer by layer
        int done = 0;
        for (int l = 0; l < c.numLayers() && !layers.isEmpty() && l <= layers.getLast(); l++) {
            DecoderLayerGradients.Params teacher = params(weights, l, c);
            double[] next = forwardAll(g, teacher, x, seqs, st.seqLen());
            if (layers.contains(l)) {
                progress.update("lkd layer " + l, 0, st.steps(), "steps");
                losses.add(trainLayer(g, weights, l, c, schemes, init, x, next, seqs, st, out, outFp8, progress));
                progress.update("lkd", ++done, layers.size(), "layers");
            }
            x = next;
        }
        return new Result(out, outFp8, losses);
    }

    private static LayerLoss trainLayer(DecoderLayerGradients g, WeightStore weights, int l, LlamaConfig c, Map<String, QuantScheme> schemes,
                                        Map<String, Start> init, double[] x, double[] target, int seqs, Settings st,
                                        Map<String, QuantizedMatrix> out, Map<String, Fp8Matrix> outFp8, Progress progress) {
        var shape = g.shape();
        int d = c.hiddenSize(), rowsPerStep = Math.min(seqs, st.batch()) * st.seqLen();
        DecoderLayerGradients.Params fp = params(weights, l, c);
        QuantScheme[] sch = new QuantScheme[DecoderLayerGradients.LINEARS];
        float[][] latent = new float[DecoderLayerGradients.LINEARS][];
        double[][] m = new double[sch.length][], v = new double[sch.length][];
        QuantizedMatrix[] grid = new QuantizedMatrix[sch.length];   // fixed scales: the grid of each trained linear
        Fp8Matrix[] fp8 = new Fp8Matrix[sch.length];                // fp8-w8a8: its per-row e4m3 scales, always fixed
        for (int i = 0; i < sch.length; i++) {
            String name = LinearNames.layer(l, SUFFIX[i]);
            sch[i] = schemes.get(name);
            Start s0 = init.get(name);
            latent[i] = s0 != null ? s0.latent().clone() : toFloat(fp.w()[i]);
            if (sch[i].lkd()) {
                m[i] = new double[latent[i].length];
                v[i] = new double[latent[i].length];
                if (sch[i] instanceof QuantScheme.Fp8W8A8 f)
                    fp8[i] = s0 != null && s0.fp8Grid() != null ? s0.fp8Grid() : fp8Rtn(f, latent[i], shape.out(i), shape.in(i));
                else if (st.fixedScales()) grid[i] = s0 != null ? s0.grid() : minMax(sch[i], latent[i], shape.out(i), shape.in(i));
            }
        }
        double before = mseAll(g, student(fp, sch, latent, grid, fp8, shape), x, target, seqs, st.seqLen());
        float[][] start = new float[sch.length][];
        for (int i = 0; i < sch.length; i++) start[i] = latent[i].clone();
        SplittableRandom random = new SplittableRandom(17 + l);
        int[] order = new int[seqs];
        for (int i = 0; i < seqs; i++) order[i] = i;
        int cursor = seqs;
        double b1 = 0.9, b2 = 0.999, eps = 1e-8;
        for (int step = 1; step <= st.steps(); step++) {
            int bs = rowsPerStep / st.seqLen();
            double[] xb = new double[rowsPerStep * d], tb = new double[rowsPerStep * d];
            for (int s = 0; s < bs; s++) {
                if (cursor == seqs) {   // a new epoch over the calibration sequences, shuffled
                    for (int i = seqs - 1; i > 0; i--) {
                        int j = random.nextInt(i + 1), t = order[i];
                        order[i] = order[j];
                        order[j] = t;
                    }
                    cursor = 0;
                }
                int src = order[cursor++] * st.seqLen() * d;
                System.arraycopy(x, src, xb, s * st.seqLen() * d, st.seqLen() * d);
                System.arraycopy(target, src, tb, s * st.seqLen() * d, st.seqLen() * d);
            }
            DecoderLayerGradients.Params p = student(fp, sch, latent, grid, fp8, shape);
            var a = g.forward(p, xb, bs, st.seqLen());
            double[] dOut = new double[a.out().length];
            mse(a.out(), tb, dOut);
            var grads = g.backward(p, a, dOut, false);
            double c1 = 1 - Math.pow(b1, step), c2 = 1 - Math.pow(b2, step);
            for (int i = 0; i < sch.length; i++) {
                if (m[i] == null) continue;
                double[] gw = grads.w()[i], mi = m[i], vi = v[i];
                float[] w = latent[i];
                for (int j = 0; j < w.length; j++) {   // Adam on the latent weights: the STE gradient is the quantized weights'
                    mi[j] = b1 * mi[j] + (1 - b1) * gw[j];
                    vi[j] = b2 * vi[j] + (1 - b2) * gw[j] * gw[j];
                    w[j] -= (float) (st.lr() * (mi[j] / c1) / (Math.sqrt(vi[j] / c2) + eps));
                }
                if (grid[i] != null) clampToGrid(grid[i], w);
                if (fp8[i] != null) clampToGrid(fp8[i], w);
            }
            if (step % 10 == 0 || step == st.steps()) progress.update("lkd layer " + l, step, st.steps(), "steps");
        }
        double after = mseAll(g, student(fp, sch, latent, grid, fp8, shape), x, target, seqs, st.seqLen());
        float[][] kept = after <= before ? latent : start;   // never worse than where it started
        for (int i = 0; i < sch.length; i++)
            if (fp8[i] != null) outFp8.put(LinearNames.layer(l, SUFFIX[i]), onGrid(fp8[i], kept[i]));
            else if (sch[i].lkd()) out.put(LinearNames.layer(l, SUFFIX[i]), grid[i] != null ? onGrid(grid[i], kept[i]) : minMax(sch[i], kept[i], shape.out(i), shape.in(i)));
        return new LayerLoss(l, before, Math.min(before, after));
    }

    /** w quantized on grid's scales and zero points (the codes change, the grid does not). */
    static QuantizedMatrix onGrid(QuantizedMatrix grid, float[] w) {
        int rows = grid.rows(), cols = grid.cols(), gs = grid.layout().groupSize();
        byte[] q = new byte[rows * cols];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) {
                int g = c / gs;
                q[r * cols + c] = (byte) grid.range().quantize(w[r * cols + c], new IntRange.QParams(grid.scale(r, g), grid.zero(r, g)));
            }
        return new QuantizedMatrix(grid.range(), rows, cols, grid.layout(), q, grid.scales(), grid.zeros());
    }

    /** w on the e4m3 grid of grid's per-row scales (round to nearest even, saturating), as Fp8Matrix.quantize rounds. */
    static Fp8Matrix onGrid(Fp8Matrix grid, float[] w) {
        int rows = grid.rows(), cols = grid.cols();
        float[] s = grid.scales();
        byte[] q = new byte[rows * cols];
        for (int r = 0; r < rows; r++)
            for (int c = r * cols; c < (r + 1) * cols; c++) q[c] = grid.format().encode(w[c] / s[r]);
        return new Fp8Matrix(grid.format(), rows, cols, q, s, grid.perChannel());
    }

    static float[] dequantize(Fp8Matrix m) {
        float[] w = new float[m.rows() * m.cols()];
        for (int r = 0; r < m.rows(); r++) for (int c = 0; c < m.cols(); c++) w[r * m.cols() + c] = m.dequantize(r, c);
        return w;
    }

    /** Beyond +-max * scale e4m3 saturates: clamped there so the latent weights do not drift. */
    static void clampToGrid(Fp8Matrix grid, float[] w) {
        int cols = grid.cols();
        for (int r = 0; r < grid.rows(); r++) {
            float lim = grid.format().max * grid.scales()[r];
            for (int c = r * cols; c < (r + 1) * cols; c++) w[c] = Math.max(-lim, Math.min(lim, w[c]));
        }
    }

    /** fp8-w8a8's own round to nearest of w: absmax or the mse observer's scales (GPTQ's codes need the Hessian: only as a start). */
    static Fp8Matrix fp8Rtn(QuantScheme.Fp8W8A8 f, float[] w, int out, int in) {
        if (f.weights().gptq() && !f.lkd())
            throw new IllegalArgumentException("lkd: a layer that is distilled takes fp8-w8a8 linears with weights=gptq only when they are distilled too");
        return f.weights().mseScales() ? Fp8Matrix.quantizeMse(w, out, in, Fp8Format.E4M3, f.perChannelWeights())
                : Fp8Matrix.quantize(w, out, in, Fp8Format.E4M3, f.perChannelWeights());
    }

    /** Latent weights beyond their grid's range round to its end codes: clamped there so they do not drift. */
    static void clampToGrid(QuantizedMatrix grid, float[] w) {
        int rows = grid.rows(), cols = grid.cols(), gs = grid.layout().groupSize();
        IntRange r = grid.range();
        for (int row = 0; row < rows; row++)
            for (int c = 0; c < cols; c++) {
                int g = c / gs;
                float s = grid.scale(row, g);
                int z = grid.zero(row, g);
                int i = row * cols + c;
                w[i] = Math.max((r.qmin() - z) * s, Math.min((r.qmax() - z) * s, w[i]));
            }
    }

    /** The scheme's own quantization of w: min-max per (row, group), as QuantizedModels builds it. */
    static QuantizedMatrix minMax(QuantScheme s, float[] w, int out, int in) {
        return switch (s) {
            case QuantScheme.W8A16 q -> QuantizedMatrix.quantize(w, out, in, IntRange.INT8_SYM, in, RangeMethod.MIN_MAX);
            case QuantScheme.W8A8Dynamic q -> QuantizedMatrix.quantize(w, out, in, IntRange.INT8_SYM, q.group() > 0 ? q.group() : in, RangeMethod.MIN_MAX);
            case QuantScheme.W4A8 q -> QuantizedMatrix.quantize(w, out, in, IntRange.INT4_ASYM, q.group(), RangeMethod.MIN_MAX);
            case QuantScheme.W4A16 q when q.lkd() || q.method() == QuantScheme.Int4Method.RTN ->
                    QuantizedMatrix.quantize(w, out, in, q.symmetric() ? IntRange.INT4_SYM : IntRange.INT4_ASYM, q.group(), RangeMethod.MIN_MAX);
            default -> throw new IllegalArgumentException("lkd: a layer that is distilled needs every linear in fp32, w8a16, w8a8-dynamic, w4a8, fp8-w8a8 or w4a16 (rtn, or any method with lkd=true); got " + s);
        };
    }

    /** The student's parameters: each linear's latent weights through its scheme's quantize-dequantize. */
    private static DecoderLayerGradients.Params student(DecoderLayerGradients.Params fp, QuantScheme[] sch, float[][] latent, QuantizedMatrix[] grid,
                                                        Fp8Matrix[] fp8, DecoderLayerGradients.Shape shape) {
        double[][] w = new double[sch.length][];
        for (int i = 0; i < sch.length; i++)
            w[i] = toDouble(fp8[i] != null ? dequantize(onGrid(fp8[i], latent[i])) : grid[i] != null ? onGrid(grid[i], latent[i]).dequantize()
                    : fakeQuantize(sch[i], latent[i], shape.out(i), shape.in(i)));
        return new DecoderLayerGradients.Params(fp.attnNorm(), fp.ffnNorm(), w, fp.b(), int8Inputs(sch), e4m3Inputs(sch));
    }

    /** Which inputs the engine quantizes per token to e4m3 (fp8-w8a8, per-token activations); shared inputs must agree, as for int8. */
    static boolean[] e4m3Inputs(QuantScheme[] sch) {
        boolean[] in = new boolean[DecoderLayerGradients.INPUTS];
        Boolean[] seen = new Boolean[DecoderLayerGradients.INPUTS];
        for (int i = 0; i < sch.length; i++) {
            boolean q = sch[i] instanceof QuantScheme.Fp8W8A8 f && f.act() == Fp8W8A8Linear.Act.TOKEN;
            if (sch[i] instanceof QuantScheme.Fp8W8A8 f && f.act() != Fp8W8A8Linear.Act.TOKEN)
                throw new IllegalArgumentException("lkd: fp8-w8a8 in a distilled layer needs per-token activations (act=token); " + SUFFIX[i] + " is " + sch[i]);
            int k = DecoderLayerGradients.inputOf(i);
            if (seen[k] != null && seen[k] != q)
                throw new IllegalArgumentException("lkd: the linears reading one input (q/k/v, or gate/up) must all have e4m3 activations or none; " + SUFFIX[i] + " is " + sch[i]);
            seen[k] = q;
            in[k] = q;
        }
        return in;
    }

    /**
     * Which of the layer's four linear inputs the engine quantizes per token to int8 (w8a8-dynamic,
     * w4a8): the student's forward does the same. Linears sharing an input (q/k/v, gate/up) must
     * agree, since the student quantizes the shared input once.
     */
    static boolean[] int8Inputs(QuantScheme[] sch) {
        boolean[] in = new boolean[DecoderLayerGradients.INPUTS];
        Boolean[] seen = new Boolean[DecoderLayerGradients.INPUTS];
        for (int i = 0; i < sch.length; i++) {
            boolean q = sch[i] instanceof QuantScheme.W8A8Dynamic || sch[i] instanceof QuantScheme.W4A8;
            int k = DecoderLayerGradients.inputOf(i);
            if (seen[k] != null && seen[k] != q)
                throw new IllegalArgumentException("lkd: the linears reading one input (q/k/v, or gate/up) must all have int8 activations or none; " + SUFFIX[i] + " is " + sch[i]);
            seen[k] = q;
            in[k] = q;
        }
        return in;
    }

    /** What the scheme's Linear computes with: fp32 as is, else the dequantized weights of its min-max quantization. */
    static float[] fakeQuantize(QuantScheme s, float[] w, int out, int in) {
        if (s instanceof QuantScheme.Fp8W8A8 f) return dequantize(fp8Rtn(f, w, out, in));
        return s instanceof QuantScheme.Fp32 ? w : minMax(s, w, out, in).dequantize();
    }

    /** Mean squared error over all values; grad gets d(mse)/d(out). */
    static double mse(double[] out, double[] target, double[] grad) {
        double s = 0, k = 2.0 / out.length;
        for (int i = 0; i < out.length; i++) {
            double e = out[i] - target[i];
            s += e * e;
            grad[i] = k * e;
        }
        return s / out.length;
    }

    private static double mseAll(DecoderLayerGradients g, DecoderLayerGradients.Params p, double[] x, double[] target, int seqs, int seqLen) {
        double[] y = forwardAll(g, p, x, seqs, seqLen);
        double s = 0;
        for (int i = 0; i < y.length; i++) s += (y[i] - target[i]) * (y[i] - target[i]);
        return s / y.length;
    }

    /** The layer output over all sequences, a few at a time (the attention probabilities grow with the batch). */
    private static double[] forwardAll(DecoderLayerGradients g, DecoderLayerGradients.Params p, double[] x, int seqs, int seqLen) {
        int d = g.shape().dim(), chunk = 8;
        double[] y = new double[x.length];
        for (int s = 0; s < seqs; s += chunk) {
            int k = Math.min(chunk, seqs - s);
            double[] xs = java.util.Arrays.copyOfRange(x, s * seqLen * d, (s + k) * seqLen * d);
            System.arraycopy(g.forward(p, xs, k, seqLen).out(), 0, y, s * seqLen * d, k * seqLen * d);
        }
        return y;
    }

    /** The embedding rows of the first n tokens (n, dim). */
    private static double[] embed(LlamaConfig c, WeightStore w, int[] tokens, int n) {
        int d = c.hiddenSize();
        Tensor e = w.get("model.embed_tokens.weight");
        float[] row = new float[d];
        double[] x = new double[n * d];
        for (int r = 0; r < n; r++) {
            if (tokens[r] < 0 || tokens[r] >= c.vocabSize()) throw new IllegalArgumentException("token id " + tokens[r] + " out of range");
            e.readFloats((long) tokens[r] * d, row, 0, d);
            for (int i = 0; i < d; i++) x[r * d + i] = row[i];
        }
        return x;
    }

    /**
     * The fp32 model's hidden states at every layer input and after the last layer
     * ((numLayers + 1) arrays of (tokens, dim)), tokens as one sequence from position 0.
     */
    static float[][] teacherHidden(LlamaConfig c, WeightStore w, float[] invFreq, int[] tokens) {
        return hidden(c, w, invFreq, tokens, l -> params(w, l, c));
    }

    /** The same with layer l's parameters given by layer (a student's, say). */
    static float[][] hidden(LlamaConfig c, WeightStore w, float[] invFreq, int[] tokens, java.util.function.IntFunction<DecoderLayerGradients.Params> layer) {
        DecoderLayerGradients g = new DecoderLayerGradients(DecoderLayerGradients.Shape.of(c, invFreq), tokens.length);
        float[][] h = new float[c.numLayers() + 1][];
        double[] x = embed(c, w, tokens, tokens.length);
        h[0] = toFloat(x);
        for (int l = 0; l < c.numLayers(); l++) {
            x = g.forward(layer.apply(l), x, 1, tokens.length).out();
            h[l + 1] = toFloat(x);
        }
        return h;
    }

    /** Layer l's fp32 parameters from the store (weights, biases, norms). */
    static DecoderLayerGradients.Params params(WeightStore w, int l, LlamaConfig c) {
        double[][] ws = new double[SUFFIX.length][], bs = new double[SUFFIX.length][];
        for (int i = 0; i < SUFFIX.length; i++) {
            String name = LinearNames.layer(l, SUFFIX[i]);
            ws[i] = toDouble(w.get(name + ".weight").toFloatArray());
            bs[i] = w.find(name + ".bias").map(t -> toDouble(t.toFloatArray())).orElse(null);
        }
        return new DecoderLayerGradients.Params(toDouble(w.get(LinearNames.layer(l, "input_layernorm.weight")).toFloatArray()),
                toDouble(w.get(LinearNames.layer(l, "post_attention_layernorm.weight")).toFloatArray()), ws, bs);
    }

    static double[] toDouble(float[] a) {
        double[] d = new double[a.length];
        for (int i = 0; i < a.length; i++) d[i] = a[i];
        return d;
    }

    static float[] toFloat(double[] a) {
        float[] f = new float[a.length];
        for (int i = 0; i < a.length; i++) f[i] = (float) a[i];
        return f;
    }
}
