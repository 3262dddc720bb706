package dev.quantflow.engine.quant;

import static org.assertj.core.api.Assertions.assertThat;

import dev.quantflow.engine.SharedData;
import dev.quantflow.engine.compute.LinearFactory;
import dev.quantflow.engine.eval.PerplexityEvaluator;
import dev.quantflow.engine.eval.TextTokens;
import dev.quantflow.engine.kv.KvCache;
import dev.quantflow.engine.kv.KvFormat;
import dev.quantflow.engine.llama.LlamaModel;
import dev.quantflow.engine.llama.LlamaStage;
import dev.quantflow.engine.llama.WindowForward;
import dev.quantflow.engine.model.Fp8Format;
import dev.quantflow.engine.model.LlamaConfig;
import dev.quantflow.engine.model.WeightStore;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.assertj.core.data.Percentage;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Function-preserving transforms on the real stories260K: SmoothQuant folding and outlier injection. */
class ModelTransformsTest {
    static LlamaModel model;
    static int[] calib, window;

    @BeforeAll
    static void open() {
        model = LlamaModel.open(SharedData.path("models/stories260K"));
        calib = TextTokens.load(SharedData.path("data/stories260K-calib.txt"), model.tokenizer(), 1024);
        window = TextTokens.load(SharedData.path("data/stories260K-eval.txt"), model.tokenizer(), 96);
    }

    @AfterAll
    static void close() {
        model.close();
    }

    static float[] logits(WeightStore w) {
        LlamaConfig c = model.config();
        LlamaStage s = new LlamaStage(c, w, 0, c.numLayers(), LinearFactory.DENSE);
        return WindowForward.logits(s, window, KvFormat.F32.caches(c, KvCache.BLOCK_SIZE));
    }

    static void assertSameFunction(float[] a, float[] b) {
        float max = 0;
        for (float v : a) max = Math.max(max, Math.abs(v));
        for (int i = 0; i < a.length; i++) assertThat(Math.abs(a[i] - b[i])).as("logit %d", i).isLessThan(2e-4f * max);
    }

    @Test
    void smoothQuantFoldingLeavesTheFp32OutputUnchanged() {
        LlamaConfig c = model.config();
        Map<String, InputStats> stats = Calibration.collect(c, model.weights(), calib, 512, Set.of(), 0);
        WeightEdits edits = new WeightEdits(model.weights());
        for (ChannelFold f : ChannelFold.all(c)) {
            float[] s = SmoothQuant.smooth(f, stats.get(f.inputKey()), edits, 0.5f);
            assertThat(s).hasSize(f.params());
        }
        float[] norm0 = edits.get("model.layers.0.input_layernorm.weight");
        assertThat(norm0).isNotEqualTo(model.weights().get("model.layers.0.input_layernorm.weight").toFloatArray());
        assertSameFunction(logits(model.weights()), logits(edits.apply()));
        // after smoothing, the per-channel activation maxima are flatter
        Map<String, InputStats> after = Calibration.collect(c, edits.apply(), calib, 512, Set.of(), 0);
        String key = "model.layers.2.attn_in";
        assertThat(spread(after.get(key).absMax())).isLessThan(spread(stats.get(key).absMax()));
    }

    /** A per-row quantize-and-back of v scaled by the fold's factors: times them (weights) or divided by them (activations). */
    private interface RoundTrip {
        double[] apply(double[] v, float[] s, int[] paramOf, boolean times);
    }

    /** The calibration loss of a fold at alpha, in float64 from its definition (per-token and per-channel symmetric int8). */
    static double lossFloat64(ChannelFold f, InputStats in, WeightEdits w, float alpha) {
        return foldLossFloat64(f, in, w, alpha, ModelTransformsTest::int8RoundTrip);
    }

    /** fp8-w8a8's calibration loss of a fold at alpha, in float64 from its definition: e4m3 per token (max / 448), e4m3 weights per output channel, round to nearest even. */
    static double fp8LossFloat64(ChannelFold f, InputStats in, WeightEdits w, float alpha) {
        return foldLossFloat64(f, in, w, alpha, ModelTransformsTest::e4m3RoundTrip);
    }

    /** Sum over the fold's consumers of |x_q w_q - x w|^2 / |x w|^2 over the calibration sample. */
    private static double foldLossFloat64(ChannelFold f, InputStats in, WeightEdits w, float alpha, RoundTrip q) {
        float[] s = SmoothQuant.factors(f, in, w, alpha);
        int n = in.sampleRows(), cols = f.columns();
        float[] x = in.sample();
        double[][] xs = new double[n][], xq = new double[n][];
        for (int r = 0; r < n; r++) {
            xs[r] = new double[cols];
            for (int c = 0; c < cols; c++) xs[r][c] = x[r * cols + c];
            xq[r] = q.apply(xs[r], s, f.paramOf(), false);
        }
        double loss = 0;
        for (String consumer : f.consumers()) {
            float[] wt = w.get(consumer + ".weight");
            double err = 0, energy = 0;
            for (int o = 0; o < wt.length / cols; o++) {
                double[] row = new double[cols];
                for (int c = 0; c < cols; c++) row[c] = wt[o * cols + c];
                double[] wq = q.apply(row, s, f.paramOf(), true);
                for (int r = 0; r < n; r++) {
                    double ref = dot(xs[r], row), d = dot(xq[r], wq) - ref;
                    err += d * d;
                    energy += ref * ref;
                }
            }
            loss += err / energy;
        }
        return loss;
    }

    /** v times (weights) or divided by (activations) the factors, then symmetric int8 with scale max|.| / 127 and back. */
    private static double[] int8RoundTrip(double[] v, float[] s, int[] paramOf, boolean times) {
        double[] t = new double[v.length];
        double mx = 0;
        for (int c = 0; c < v.length; c++) {
            t[c] = times ? v[c] * s[paramOf[c]] : v[c] / s[paramOf[c]];
            mx = Math.max(mx, Math.abs(t[c]));
        }
        double sc = mx == 0 ? 1 : mx / 127;
        for (int c = 0; c < v.length; c++) t[c] = Math.max(-127, Math.min(127, Math.round(t[c] / sc))) * sc;
        return t;
    }

    private static double dot(double[] a, double[] b) {
        double d = 0;
        for (int i = 0; i < a.length; i++) d += a[i] * b[i];
        return d;
    }

    @Test
    void smoothQuantsCalibrationLossMatchesFloat64AndTheSearchTakesItsMinimum() {
        LlamaConfig c = model.config();
        Map<String, InputStats> stats = Calibration.collect(c, model.weights(), calib, 512, Set.of(), 64);
        WeightEdits edits = new WeightEdits(model.weights());
        for (ChannelFold f : List.of(ChannelFold.all(c).get(0), ChannelFold.all(c).get(3))) {   // a norm fold (q/k/v) and the up -> down fold
            double[] curve = SmoothQuant.lossCurve(f, stats.get(f.inputKey()), edits, true);
            assertThat(curve).hasSize(SmoothQuant.ALPHA_STEPS + 1);
            for (int a : new int[] {0, 10, 17})
                assertThat(curve[a]).as("%s alpha %s", f.producer(), SmoothQuant.gridAlpha(a)).isCloseTo(lossFloat64(f, stats.get(f.inputKey()), edits, SmoothQuant.gridAlpha(a)), Percentage.withPercentage(1));
            float best = SmoothQuant.argmin(curve);
            for (double v : curve) assertThat(curve[Math.round(best * SmoothQuant.ALPHA_STEPS)]).isLessThanOrEqualTo(v);
        }
    }

    @Test
    void alphaSearchRecordsEachFoldsAlphaAndKeepsTheFunction() {
        for (String scheme : List.of("smoothquant:alpha=search", "smoothquant:alpha=search-model")) {
            QuantizedModels.Built b = QuantizedModels.build(model.config(), model.weights(), QuantPlan.parse(scheme, List.of()), Optional.of(calib), QuantizedModels.Options.DEFAULT);
            assertThat(b.foldKinds()).hasSize(ChannelFold.all(model.config()).size());
            java.util.Set<String> alphas = new java.util.HashSet<>(b.foldKinds().values());
            for (String k : alphas) assertThat(k).matches("smoothquant:alpha=(0\\.\\d+|1\\.0)");
            if (scheme.endsWith("model")) assertThat(alphas).hasSize(1);
            // the smoothed fp32 weights compute the same function (the folding is exact whatever alpha is)
            assertSameFunction(logits(model.weights()), logits(b.weights()));
            assertThat(b.format("model.layers.0.mlp.down_proj").scheme()).isEqualTo(scheme);
        }
        assertThat(QuantScheme.parse("smoothquant:alpha=search,weights=tensor").toString()).isEqualTo("smoothquant:alpha=search,weights=tensor");
    }

    /** v times (weights) or divided by (activations) the factors, then e4m3 with scale max|.| / 448 and back. */
    private static double[] e4m3RoundTrip(double[] v, float[] s, int[] paramOf, boolean times) {
        float[] t = new float[v.length];
        float mx = 0;
        for (int c = 0; c < v.length; c++) {
            t[c] = (float) (times ? v[c] * s[paramOf[c]] : v[c] / s[paramOf[c]]);
            mx = Math.max(mx, Math.abs(t[c]));
        }
        float sc = mx == 0 ? 1 : mx / 448f;
        double[] q = new double[v.length];
        for (int c = 0; c < v.length; c++) q[c] = (double) Fp8Format.E4M3.decode(Fp8Format.E4M3.encode(t[c] / sc)) * sc;
        return q;
    }

    @Test
    void fp8W8A8sSmoothingLossIsItsE4m3ErrorAndTheSearchTakesItsMinimum() {
        LlamaConfig c = model.config();
        Map<String, InputStats> stats = Calibration.collect(c, model.weights(), calib, 512, Set.of(), 64);
        WeightEdits edits = new WeightEdits(model.weights());
        var sim = SmoothQuant.fp8((QuantScheme.Fp8W8A8) QuantScheme.parse("fp8-w8a8:smooth=search"));
        for (ChannelFold f : List.of(ChannelFold.all(c).get(0), ChannelFold.all(c).get(3))) {   // a norm fold (q/k/v) and the up -> down fold
            double[] curve = SmoothQuant.lossCurve(f, stats.get(f.inputKey()), edits, sim);
            double[] int8 = SmoothQuant.lossCurve(f, stats.get(f.inputKey()), edits, true);
            for (int a : new int[] {0, 10, 17}) {
                assertThat(curve[a]).as("%s alpha %s", f.producer(), SmoothQuant.gridAlpha(a)).isCloseTo(fp8LossFloat64(f, stats.get(f.inputKey()), edits, SmoothQuant.gridAlpha(a)), Percentage.withPercentage(1));
                assertThat(curve[a]).isNotCloseTo(int8[a], Percentage.withPercentage(5));   // not smoothquant's int8 curve
            }
            float best = SmoothQuant.argmin(curve);
            for (double v : curve) assertThat(curve[Math.round(best * SmoothQuant.ALPHA_STEPS)]).isLessThanOrEqualTo(v);
        }
    }

    @Test
    void fp8W8A8SmoothSearchFoldsEveryLayerAndKeepsTheFp32Function() {
        float[] ref = logits(model.weights());
        for (String scheme : List.of("fp8-w8a8:smooth=search", "fp8-w8a8:weights=gptq-mse,smooth=search-model")) {
            QuantizedModels.Built b = QuantizedModels.build(model.config(), model.weights(), QuantPlan.parse(scheme, List.of()), Optional.of(calib), QuantizedModels.Options.DEFAULT);
            assertThat(b.foldKinds()).hasSize(ChannelFold.all(model.config()).size());
            java.util.Set<String> alphas = new java.util.HashSet<>(b.foldKinds().values());
            for (String k : alphas) assertThat(k).matches("smoothquant:alpha=(0\\.\\d+|1\\.0)");
            if (scheme.endsWith("model")) assertThat(alphas).hasSize(1);
            assertThat(b.weights().get("model.layers.0.input_layernorm.weight").toFloatArray())
                    .isNotEqualTo(model.weights().get("model.layers.0.input_layernorm.weight").toFloatArray());
            // the folds alone, no quantization (dense fp32 linears over the smoothed weights): the same logits
            // (within 1e-5 of the largest |logit|: float rounding of the scaled weights through five layers, measured up to 1.0e-5 absolute)
            float[] smoothed = logits(b.weights());
            float max = 0;
            for (float v : ref) max = Math.max(max, Math.abs(v));
            for (int i = 0; i < ref.length; i++) assertThat(Math.abs(smoothed[i] - ref[i])).as("%s logit %d", scheme, i).isLessThan(1e-5f * max);
            assertThat(b.format("model.layers.0.mlp.down_proj")).isInstanceOf(Fp8W8A8Linear.class);
        }
    }

    @Test
    void smoothSearchIsOneParameterOfTheSchemeLanguage() {
        for (String[] in : new String[][] {{"fp8-w8a8:smooth=auto", "fp8-w8a8:smooth=search"}, {"fp8-w8a8:smooth=search-model", "fp8-w8a8:smooth=search-model"},
                {"fp8-w8a8:weights=gptq-mse,smooth=search,lkd=true", "fp8-w8a8:weights=gptq-mse,smooth=search,lkd=true"},
                {"fp8-w8a8:smooth=0.5", "fp8-w8a8:smooth=0.5"}, {"smoothquant:alpha=auto", "smoothquant:alpha=search"}}) {
            QuantPlan p = QuantPlan.parse(in[0], List.of("down_proj=" + in[0]));
            assertThat(p).hasToString(in[1] + " down_proj=" + in[1]);
            QuantPlan again = QuantPlan.parse(p.defaultScheme().toString(), List.of("down_proj=" + p.overrides().get(0).scheme()));
            assertThat(again).isEqualTo(p);
            assertThat(p.defaultScheme().needsCalibration()).isTrue();
        }
        QuantScheme.Fp8W8A8 f = (QuantScheme.Fp8W8A8) QuantScheme.parse("fp8-w8a8:smooth=search");
        assertThat(f.smoothed()).isTrue();
        assertThat(f.smoothSearch()).isEqualTo(QuantScheme.AlphaSearch.LAYER);
        assertThat(((QuantScheme.Fp8W8A8) QuantScheme.parse("fp8-w8a8")).smoothed()).isFalse();
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> QuantScheme.parse("fp8-w8a8:smooth=best")).hasMessageContaining("search");
    }

    static float spread(float[] v) {
        float[] s = v.clone();
        Arrays.sort(s);
        return s[s.length - 1] / Math.max(1e-6f, s[s.length / 2]);
    }

    @Test
    void outlierInjectionKeepsTheFunctionAndCreatesFixedChannelOutliers() {
        LlamaConfig c = model.config();
        WeightEdits edits = new WeightEdits(model.weights());
        int[][] chosen = OutlierInjection.inject(c, edits, 2, 40f, 1);
        assertSameFunction(logits(model.weights()), logits(edits.apply()));
        Map<String, InputStats> before = Calibration.collect(c, model.weights(), calib, 512, Set.of(), 0);
        Map<String, InputStats> after = Calibration.collect(c, edits.apply(), calib, 512, Set.of(), 0);
        for (int l = 0; l < c.numLayers(); l++) {
            InputStats b = before.get("model.layers." + l + ".attn_in"), a = after.get("model.layers." + l + ".attn_in");
            for (int ch : chosen[0]) assertThat(a.absMax()[ch]).isCloseTo(40f * b.absMax()[ch], Percentage.withPercentage(1));
            assertThat(a.channelsAbove(6f)).contains(chosen[0]);
            InputStats down = after.get("model.layers." + l + ".mlp.down_proj");
            for (int ch : chosen[2]) assertThat(down.absMax()[ch]).isGreaterThan(20f * before.get("model.layers." + l + ".mlp.down_proj").absMax()[ch]);
        }
    }

    @Test
    void quantizedModelsMeetTheirAccuracyOrderOnTheRealModel() {
        LlamaConfig c = model.config();
        var ref = new PerplexityEvaluator.Subject(model.full(LinearFactory.DENSE), KvFormat.F32.caches(c, KvCache.BLOCK_SIZE));
        int[] text = TextTokens.load(SharedData.path("data/stories260K-eval.txt"), model.tokenizer(), 600);
        double[] kl = new double[4];
        String[] schemes = {"llm-int8", "w4a16-rtn:group=32", "w4a16-gptq:group=32", "fp32"};
        for (int i = 0; i < schemes.length; i++) {
            QuantizedModels.Built b = QuantizedModels.build(c, model.weights(), QuantPlan.parse(schemes[i], List.of()),
                    Optional.of(calib), QuantizedModels.Options.DEFAULT);
            var subject = new PerplexityEvaluator.Subject(b.stage(),
                    (i == 3 ? KvFormat.INT8 : KvFormat.F32).caches(c, KvCache.BLOCK_SIZE));
            var r = PerplexityEvaluator.evaluate(subject, ref, text, 256, 0);
            kl[i] = r.klDivergence();
            if (i == 0 || i == 3) assertThat(Math.abs(r.perplexityDeltaPercent())).as(schemes[i]).isLessThan(1.0);
        }
        assertThat(kl[2]).as("GPTQ vs RTN KL").isLessThan(kl[1]);
        assertThat(kl[0]).isLessThan(kl[1]);
    }
}
