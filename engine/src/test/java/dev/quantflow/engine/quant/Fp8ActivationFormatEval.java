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
 * Usage: java ... Fp8ActivationFormatEval MODEL_DIR EVAL_TEXT e4m3|e5m2 [maxTokens [e4m3|fp32|e4m3-gN[-mse] (weights)]]
 */
public final class Fp8ActivationFormatEval {
    /** Rounds every input row to FP8 with its own scale, then runs the inner linear. */
    record RoundedInput(Linear inner, Fp8Format f) implements Linear {
        public int inFeatures() { return inner.inFeatures(); }
        public int outFeatures() { return inner.outFeatures(); }
        public long weightBytes() { return inner.weightBytes(); }
        public String scheme() { return "fp8-w8a8 (act " + f + ")"; }
        public void forward(float[] x, int rows, float[] y) {
            int in = inner.inFeatures();
            float[] xq = new float[rows * in];
            for (int r = 0; r < rows; r++) {
                float m = 0;
                for (int i = 0; i < in; i++) m = Math.max(m, Math.abs(x[r * in + i]));
                float s = Fp8Matrix.scaleFor(m, f);
                for (int i = 0; i < in; i++) xq[r * in + i] = f.decode(f.encode(x[r * in + i] / s)) * s;
            }
            inner.forward(xq, rows, y);
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
        Fp8Format act = Fp8Format.valueOf(a[2].toUpperCase(Locale.ROOT));
        int maxTokens = a.length > 3 ? Integer.parseInt(a[3]) : 2048;
        String wm = a.length > 4 ? a[4] : "e4m3";
        boolean denseWeights = wm.equals("fp32");
        try (LlamaModel m = LlamaModel.open(Path.of(a[0]))) {
            var c = m.config();
            int window = Math.min(512, c.maxPositions());
            LinearFactory f = (name, w, b) -> name.equals("lm_head") ? new DenseLinear(w, b)
                    : new RoundedInput(denseWeights ? new DenseLinear(w, b) : wm.startsWith("e4m3-g") ? new DenseLinear(grouped(w, wm), b)
                            : new Fp8Linear(Fp8Matrix.quantize(w.toFloatArray(), w.rows(), w.cols(), Fp8Format.E4M3, true), b), act);
            LlamaStage q = new LlamaStage(c, m.weights(), 0, c.numLayers(), f);
            LlamaStage ref = m.full(LinearFactory.DENSE);
            int[] tokens = TextTokens.load(Path.of(a[1]), m.tokenizer(), maxTokens * 2 + window);
            EvalResult r = PerplexityEvaluator.evaluate(new PerplexityEvaluator.Subject(q, KvFormat.F32.caches(c, KvCache.BLOCK_SIZE)),
                    new PerplexityEvaluator.Subject(ref, KvFormat.F32.caches(c, KvCache.BLOCK_SIZE)), tokens, window, maxTokens);
            System.out.printf(Locale.ROOT, "{\"model\":\"%s\",\"act\":\"%s\",\"weights\":\"%s\",\"perplexity\":%.4f,\"fp32_perplexity\":%.4f,\"perplexity_delta_pct\":%.2f,\"kl_divergence\":%.5f,\"top1_agreement\":%.4f}%n",
                    a[0], a[2], wm, r.perplexity(), r.referencePerplexity(), r.perplexityDeltaPercent(), r.klDivergence(), r.top1Agreement());
        }
    }
}
