package dev.quantflow.engine.quant;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.quantflow.engine.SharedData;
import dev.quantflow.engine.eval.TextTokens;
import dev.quantflow.engine.llama.LlamaModel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/** ZeroQuant's layer-wise distillation: the scheme language, and a real model distilled through QuantizedModels.build. */
class LkdTest {
    @Test
    void lkdIsAParameterOfTheWeightOnlySchemes() {
        QuantScheme w4 = QuantScheme.parse("w4a16-rtn:group=64,lkd=true");
        assertThat(w4.lkd()).isTrue();
        assertThat(w4.needsCalibration()).isTrue();
        assertThat(w4.lkdSettings()).isEqualTo(Lkd.Settings.DEFAULT);
        assertThat(w4).hasToString("w4a16-rtn:group=64,lkd=true");
        QuantScheme w8 = QuantScheme.parse("w8a16:lkd=true,lkd-steps=50,lkd-lr=3e-5");
        assertThat(w8.lkdSettings().steps()).isEqualTo(50);
        assertThat(w8.lkdSettings().lr()).isEqualTo(3e-5);
        assertThat(QuantScheme.parse(w8.toString())).isEqualTo(w8);
        assertThat(QuantScheme.parse("w4a16-gptq:group=64,lkd=true").lkd()).isTrue();
        QuantScheme latent = QuantScheme.parse("w4a16-rtn:group=64,lkd=true,lkd-scales=latent");
        assertThat(latent.lkdSettings().fixedScales()).isFalse();
        assertThat(latent).hasToString("w4a16-rtn:group=64,lkd=true,lkd-scales=latent");
        assertThatThrownBy(() -> QuantScheme.parse("w4a16-rtn:lkd=true,lkd-scales=free")).hasMessageContaining("fixed or latent");
        assertThat(QuantScheme.parse("w4a16-rtn:group=64").lkd()).isFalse();
        assertThat(QuantScheme.parse("w8a16").needsCalibration()).isFalse();
        assertThatThrownBy(() -> QuantScheme.parse("nf4:lkd=true")).hasMessageContaining("lkd applies to");
        assertThatThrownBy(() -> QuantScheme.parse("w4a16-awq:lkd=true")).hasMessageContaining("not awq");
        assertThatThrownBy(() -> QuantScheme.parse("w4a16-rtn:lkd-steps=5")).hasMessageContaining("need lkd=true");
        assertThatThrownBy(() -> QuantScheme.parse("w4a16-rtn:lkd=yes")).hasMessageContaining("true or false");
        assertThatThrownBy(() -> QuantScheme.parse("w8a16:lkd=true,lkd-lr=-1")).hasMessageContaining("lkd-lr must be a positive number");
    }

    @Test
    void w4a8LkdDistilsWithInt8ActivationsAndBuildsTheW4A8AndW8A8Linears() throws Exception {
        Path dir = SharedData.path("models/stories260K");
        Assumptions.assumeTrue(Files.isDirectory(dir), "stories260K absent");
        try (LlamaModel m = LlamaModel.open(dir)) {
            var c = m.config();
            int[] calib = TextTokens.load(SharedData.path("data/stories260K-calib.txt"), m.tokenizer(), 512);
            QuantPlan plan = QuantPlan.parse("w4a8-lkd:lkd-steps=40", List.of());
            var built = QuantizedModels.build(c, m.weights(), plan, Optional.of(calib), QuantizedModels.Options.DEFAULT);
            assertThat(built.lkdLosses()).hasSize(c.numLayers());
            for (Lkd.LayerLoss l : built.lkdLosses()) assertThat(l.after()).as("layer " + l.layer()).isLessThan(0.9 * l.before());
            for (String n : List.of("model.layers.1.mlp.up_proj", "model.layers.2.self_attn.v_proj")) {
                var t = m.weights().get(n + ".weight");
                QuantizedMatrix rtn = Lkd.minMax(plan.schemeFor(n), t.toFloatArray(), t.rows(), t.cols());
                QuantizedMatrix actual = switch (built.format(n)) {
                    case W4A8Linear l -> l.weights();
                    case W8A8DynamicLinear l -> l.weights();
                    default -> throw new AssertionError(n + " is " + built.format(n).scheme());
                };
                assertThat(actual.scales()).as(n + ": fixed scales, those of round to nearest").isEqualTo(rtn.scales());
                assertThat(actual.q()).as(n + ": trained codes").isNotEqualTo(rtn.q());
            }
        }
    }

    @Test
    void fp8W8A8LkdDistilsOnTheE4m3GridWithE4m3ActivationsAndKeepsTheStartsScales() throws Exception {
        Path dir = SharedData.path("models/stories260K");
        Assumptions.assumeTrue(Files.isDirectory(dir), "stories260K absent");
        try (LlamaModel m = LlamaModel.open(dir)) {
            var c = m.config();
            int[] calib = TextTokens.load(SharedData.path("data/stories260K-calib.txt"), m.tokenizer(), 512);
            for (String scheme : List.of("fp8-w8a8:lkd=true,lkd-steps=30", "fp8-w8a8:weights=gptq-mse,lkd=true,lkd-steps=30")) {
                QuantPlan plan = QuantPlan.parse(scheme, List.of());
                var built = QuantizedModels.build(c, m.weights(), plan, Optional.of(calib), QuantizedModels.Options.DEFAULT);
                assertThat(built.lkdLosses()).hasSize(c.numLayers());
                for (Lkd.LayerLoss l : built.lkdLosses()) assertThat(l.after()).as(scheme + " layer " + l.layer()).isLessThanOrEqualTo(l.before());
                assertThat(built.lkdLosses().stream().filter(l -> l.after() < 0.99 * l.before())).as(scheme + ": training lowered some layer's loss").isNotEmpty();
                for (String n : List.of("model.layers.1.mlp.up_proj", "model.layers.2.self_attn.v_proj")) {
                    var t = m.weights().get(n + ".weight");
                    float[] w = t.toFloatArray();
                    Fp8Matrix start = scheme.contains("gptq-mse") ? Fp8Matrix.quantizeMse(w, t.rows(), t.cols(), dev.quantflow.engine.model.Fp8Format.E4M3, true)
                            : Fp8Matrix.quantize(w, t.rows(), t.cols(), dev.quantflow.engine.model.Fp8Format.E4M3, true);
                    Fp8Matrix actual = ((Fp8W8A8Linear) built.format(n)).weights();
                    assertThat(actual.scales()).as(n + ": the start's per-row scales").isEqualTo(start.scales());
                    assertThat(actual.q()).as(n + ": trained codes").isNotEqualTo(start.q());
                    assertThat(((Fp8W8A8Linear) built.format(n)).act()).isEqualTo(Fp8W8A8Linear.Act.TOKEN);
                }
            }
        }
    }

    @Test
    void e4m3InputsOfTheStudentAreFp8W8A8LinearsPerTokenRounding() {
        QuantScheme[] sch = new QuantScheme[DecoderLayerGradients.LINEARS];
        java.util.Arrays.fill(sch, QuantScheme.parse("fp8-w8a8:lkd=true"));
        assertThat(Lkd.e4m3Inputs(sch)).containsExactly(true, true, true, true);
        assertThat(Lkd.int8Inputs(sch)).containsExactly(false, false, false, false);
        sch[1] = new QuantScheme.Fp32();
        assertThatThrownBy(() -> Lkd.e4m3Inputs(sch)).hasMessageContaining("self_attn.k_proj");
        // against the engine's layer: each row's e4m3 round trip is what Fp8W8A8Linear multiplies
        java.util.Random r = new java.util.Random(5);
        int rows = 3, width = 40;
        double[] x = new double[rows * width];
        for (int i = 0; i < x.length; i++) x[i] = (float) (r.nextGaussian() * (i % 13 == 0 ? 30 : 1));
        double[] y = DecoderLayerGradients.e4m3PerToken(x, rows, width);
        var e = dev.quantflow.engine.model.Fp8Format.E4M3;
        for (int row = 0; row < rows; row++) {
            double max = 0;
            for (int i = 0; i < width; i++) max = Math.max(max, Math.abs(x[row * width + i]));
            for (int i = 0; i < width; i++) {
                double v = x[row * width + i], s = max / 448;
                assertThat(Math.abs(y[row * width + i] - v)).as("row %d col %d", row, i).isLessThanOrEqualTo(Math.abs(v) / 16 + s * Math.scalb(1.0, -9) + 1e-12);
                assertThat(e.encode((float) (y[row * width + i] / (float) s))).isEqualTo(e.encode((float) v / (float) s));
            }
        }
    }

    @Test
    void int8InputsAreRefusedWhereASharedInputWouldBeHalfQuantized() {
        QuantScheme[] sch = new QuantScheme[DecoderLayerGradients.LINEARS];
        java.util.Arrays.fill(sch, QuantScheme.parse("w4a8:group=32"));
        assertThat(Lkd.int8Inputs(sch)).containsExactly(true, true, true, true);
        sch[DecoderLayerGradients.K] = QuantScheme.parse("w8a16");
        assertThatThrownBy(() -> Lkd.int8Inputs(sch)).hasMessageContaining("self_attn.k_proj");
    }

    @Test
    void onGridKeepsTheScalesAndZeroPointsAndRoundsToNearestOnThem() {
        java.util.Random r = new java.util.Random(7);
        int out = 6, in = 44;
        for (String spec : List.of("w4a16-rtn:group=16,lkd=true", "w4a16-rtn:group=16,sym=true,lkd=true", "w8a16:lkd=true")) {
            QuantScheme s = QuantScheme.parse(spec);
            float[] w = new float[out * in];
            for (int i = 0; i < w.length; i++) w[i] = (float) r.nextGaussian() + (i < in ? 3 : 0);   // row 0 all positive: the range widens to 0
            QuantizedMatrix grid = Lkd.minMax(s, w, out, in);
            assertThat(Lkd.onGrid(grid, w).q()).as(spec + ": the start is round to nearest").isEqualTo(grid.q());
            float[] moved = w.clone();
            for (int i = 0; i < w.length; i++) moved[i] += (float) r.nextGaussian() * 2;
            Lkd.clampToGrid(grid, moved);
            QuantizedMatrix after = Lkd.onGrid(grid, moved);
            assertThat(after.scales()).isEqualTo(grid.scales());
            assertThat(after.zeros()).isEqualTo(grid.zeros());
            assertThat(after.q()).as(spec + ": the codes did move").isNotEqualTo(grid.q());
            float[] deq = after.dequantize();
            for (int i = 0; i < w.length; i++) {
                int row = i / in, g = (i % in) / grid.layout().groupSize();
                float step = grid.scale(row, g);
                assertThat(Math.abs(deq[i] - moved[i])).as(spec + " weight " + i).isLessThanOrEqualTo(step / 2 * 1.0001f);
            }
        }
    }

    @Test
    void distillationLowersEveryLayersLossAndTheBuiltLinearsAreTheTrainedStudent() throws Exception {
        Path dir = SharedData.path("models/stories260K");
        Assumptions.assumeTrue(Files.isDirectory(dir), "stories260K absent");
        try (LlamaModel m = LlamaModel.open(dir)) {
            var c = m.config();
            int[] calib = TextTokens.load(SharedData.path("data/stories260K-calib.txt"), m.tokenizer(), 512);
            // the paper's mixed W4/W8: attention int8, MLP int4, both distilled
            QuantPlan plan = QuantPlan.parse("w4a16-rtn:group=64,lkd=true,lkd-steps=40", List.of("self_attn=w8a16:lkd=true,lkd-steps=40"));
            var built = QuantizedModels.build(c, m.weights(), plan, Optional.of(calib), QuantizedModels.Options.DEFAULT);
            assertThat(built.lkdLosses()).hasSize(c.numLayers());
            for (Lkd.LayerLoss l : built.lkdLosses()) assertThat(l.after()).as("layer " + l.layer()).isLessThan(0.9 * l.before());
            for (String n : List.of("model.layers.1.mlp.up_proj", "model.layers.3.mlp.down_proj", "model.layers.2.self_attn.v_proj")) {
                var t = m.weights().get(n + ".weight");
                QuantizedMatrix rtn = Lkd.minMax(plan.schemeFor(n), t.toFloatArray(), t.rows(), t.cols());
                QuantizedMatrix actual = switch (built.format(n)) {
                    case Int4GroupLinear l -> l.weights();
                    case Int8Linear l -> l.weights();
                    default -> throw new AssertionError(n + " is " + built.format(n).scheme());
                };
                assertThat(actual.scales()).as(n + ": fixed scales, those of round to nearest").isEqualTo(rtn.scales());
                assertThat(actual.q()).as(n + ": trained codes").isNotEqualTo(rtn.q());
            }
        }
    }
}
