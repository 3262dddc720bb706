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
