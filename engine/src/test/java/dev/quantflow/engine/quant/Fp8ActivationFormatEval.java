package dev.quantflow.engine.quant;

import dev.quantflow.engine.compute.DenseLinear;
import dev.quantflow.engine.compute.Linear;
import dev.quantflow.engine.eval.EvalResult;
import dev.quantflow.engine.eval.PerplexityEvaluator;
import dev.quantflow.engine.eval.TextTokens;
import dev.quantflow.engine.kv.KvCache;
import dev.quantflow.engine.kv.KvFormat;
import dev.quantflow.engine.llama.LlamaModel;
import dev.quantflow.engine.llama.LlamaStage;
import dev.quantflow.engine.compute.LinearFactory;
import dev.quantflow.engine.model.Fp8Format;
import java.nio.file.Path;
import java.util.Locale;

/**
 * A measurement, not a format: FP8 W8A8 with e5m2 (or e4m3) activations, which the e4m3-only
 * Fp8W8A8Linear kernel does not run. Each decoder linear is e4m3 weights per channel (Fp8Linear)
 * fed the activations rounded per token to the chosen FP8 format (scale max|x| / max-finite).
 * With e4m3 this is fp8-w8a8 (the products of two FP8 values are exact in fp32; only the sum's
 * order differs), the harness's control. Scored by PerplexityEvaluator exactly as `eval` does:
 * 512-token windows, 2048 scored tokens, against the fp32 model.
 * weights=fp32 keeps the weights dense: the activations' share of the error alone, a floor for
 * any choice of FP8 weight codes.
 * weights=e4m3-gN (N columns per scale, absmax) or e4m3-gN-mse (each group's scale searched over
 * absmax * [0.5, 1] for the least squared error): finer weight scales than the per-row layout
 * Fp8W8A8Linear stores (MX/DeepSeek-style groups along the input), dequantized into dense weights,
 * to measure what such a layout would buy before building it.
 * weights=fp8-w8a8[:...]: that recipe's weight codes as eval builds them (calibrated on CALIB_TEXT).
 * Usage: java ... Fp8ActivationFormatEval MODEL_DIR EVAL_TEXT e4m3|e5m2[-gN|-pP] [maxTokens [e4m3|fp32|e4m3-gN[-mse]|fp8-w8a8[:...] (weights) [CALIB_TEXT]]]
 */
public final class Fp8ActivationFormatEval {
    /**
     * Rounds every input row to FP8, then runs the inner linear. mode: the format (one scale per
     * token, max|x| / max-finite), FORMAT-gN (one scale per group of N columns of a token: the
     * 1x128 activation groups of DeepSeek-V3 / vLLM block FP8 at N = 128) or FORMAT-pP (one scale
     * per token from the P-th percentile of |x| instead of its max; larger values saturate).
     */
    record RoundedInput(Linear inner, Fp8Format f, int group, double percentile) implements Linear {
        RoundedInput(Linear inner, Fp8Format f) {
            this(inner, f, 0, 100);
        }
        static RoundedInput of(Linear inner, String mode) {
            String[] p = mode.split("-");
            Fp8Format f = Fp8Format.valueOf(p[0].toUpperCase(Locale.ROOT));
            if (p.length == 1) return new RoundedInput(inner, f);
            if (p[1].startsWith("g")) return new RoundedInput(inner, f, Integer.parseInt(p[1].substring(1)), 100);
            if (p[1].startsWith("p")) return new RoundedInput(inner, f, 0, Double.parseDouble(p[1].substring(1)));
            throw new IllegalArgumentException("activation mode " + mode);
        }
        public int inFeatures() { return inner.inFeatures(); }
        public int outFeatures() { return inner.outFeatures(); }
        public long weightBytes() { return inner.weightBytes(); }
        public String scheme() { return "fp8-w8a8 (act " + f + ")"; }
        public void forward(float[] x, int rows, float[] y) {
            int in = inner.inFeatures(), g = group > 0 ? group : in;
            float[] xq = new float[rows * in];
            for (int r = 0; r < rows; r++)
                for (int g0 = 0; g0 < in; g0 += g) {
                    int from = r * in + g0, to = r * in + Math.min(in, g0 + g);
                    float s = Fp8Matrix.scaleFor(bound(x, from, to), f);
                    for (int i = from; i < to; i++) xq[i] = f.decode(f.encode(x[i] / s)) * s;   // encode saturates
                }
            inner.forward(xq, rows, y);
        }
        /** max |x| of the range, or its P-th percentile (nearest rank). */
        private float bound(float[] x, int from, int to) {
            float[] a = new float[to - from];
            for (int i = from; i < to; i++) a[i - from] = Math.abs(x[i]);
            if (percentile >= 100) {
                float m = 0;
                for (float v : a) m = Math.max(m, v);
                return m;
            }
            java.util.Arrays.sort(a);
            return a[Math.max(0, (int) Math.ceil(percentile / 100 * a.length) - 1)];
        }
    }

    /** e4m3 weights with one fp32 scale per N input columns of a row (absmax, or -mse: least squared error over absmax * [0.5, 1]), dequantized. */
    static dev.quantflow.engine.model.Tensor grouped(dev.quantflow.engine.model.Tensor t, String mode) {
        boolean mse = mode.endsWith("-mse");
        int n = Integer.parseInt(mode.substring("e4m3-g".length(), mse ? mode.length() - 4 : mode.length()));
        float[] w = t.toFloatArray();
        int rows = t.rows(), cols = t.cols();
        Fp8Format e = Fp8Format.E4M3;
        java.lang.foreign.MemorySegment seg = java.lang.foreign.MemorySegment.ofArray(new float[w.length]);
        for (int r = 0; r < rows; r++)
            for (int g0 = 0; g0 < cols; g0 += n) {
                int from = r * cols + g0, to = r * cols + Math.min(cols, g0 + n);
                float max = 0;
                for (int i = from; i < to; i++) max = Math.max(max, Math.abs(w[i]));
                float best = Fp8Matrix.scaleFor(max, e);
                if (mse) {
                    double bestErr = Double.POSITIVE_INFINITY;
                    for (int k = 0; k <= 100; k++) {
                        float s = Fp8Matrix.scaleFor((float) (max * (1 - k / 200.0)), e);
                        double err = 0;
                        for (int i = from; i < to; i++) {
                            double d = e.decode(e.encode(w[i] / s)) * s - w[i];
                            err += d * d;
                        }
                        if (err < bestErr) {
                            bestErr = err;
                            best = s;
                        }
                    }
                }
                for (int i = from; i < to; i++) seg.setAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, i, e.decode(e.encode(w[i] / best)) * best);
            }
        return new dev.quantflow.engine.model.Tensor(t.name(), dev.quantflow.engine.model.DType.F32, t.shape(), seg);
    }

    public static void main(String[] a) throws Exception {
        String act = a[2];
        int maxTokens = a.length > 3 ? Integer.parseInt(a[3]) : 2048;
        String wm = a.length > 4 ? a[4] : "e4m3";
        boolean denseWeights = wm.equals("fp32");
        try (LlamaModel m = LlamaModel.open(Path.of(a[0]))) {
            var c = m.config();
            int window = Math.min(512, c.maxPositions());
            LlamaStage q;
            if (wm.startsWith("fp8-w8a8")) {
                // an fp8-w8a8 recipe's weight codes (GPTQ, LKD, smoothing folded into the norms) as built by eval, calibrated on a[5] (4096 tokens)
                QuantizedModels.Built b = QuantizedModels.build(c, m.weights(), QuantPlan.parse(wm, java.util.List.of()),
                        java.util.Optional.of(TextTokens.load(Path.of(a[5]), m.tokenizer(), 4096)), QuantizedModels.Options.DEFAULT);
                q = new LlamaStage(c, b.weights(), 0, c.numLayers(), (name, w, bias) -> name.equals("lm_head") ? new DenseLinear(w, bias)
                        : RoundedInput.of(new Fp8Linear(((Fp8W8A8Linear) b.format(name)).weights(), bias), act));
            } else {
                LinearFactory f = (name, w, b) -> name.equals("lm_head") ? new DenseLinear(w, b)
                        : RoundedInput.of(denseWeights ? new DenseLinear(w, b) : wm.startsWith("e4m3-g") ? new DenseLinear(grouped(w, wm), b)
                                : new Fp8Linear(Fp8Matrix.quantize(w.toFloatArray(), w.rows(), w.cols(), Fp8Format.E4M3, true), b), act);
                q = new LlamaStage(c, m.weights(), 0, c.numLayers(), f);
            }
            LlamaStage ref = m.full(LinearFactory.DENSE);
            int[] tokens = TextTokens.load(Path.of(a[1]), m.tokenizer(), maxTokens * 2 + window);
            EvalResult r = PerplexityEvaluator.evaluate(new PerplexityEvaluator.Subject(q, KvFormat.F32.caches(c, KvCache.BLOCK_SIZE)),
                    new PerplexityEvaluator.Subject(ref, KvFormat.F32.caches(c, KvCache.BLOCK_SIZE)), tokens, window, maxTokens);
            System.out.printf(Locale.ROOT, "{\"model\":\"%s\",\"act\":\"%s\",\"weights\":\"%s\",\"perplexity\":%.4f,\"fp32_perplexity\":%.4f,\"perplexity_delta_pct\":%.2f,\"kl_divergence\":%.5f,\"top1_agreement\":%.4f}%n",
                    a[0], act, wm, r.perplexity(), r.referencePerplexity(), r.perplexityDeltaPercent(), r.klDivergence(), r.top1Agreement());
        }
    }
}
