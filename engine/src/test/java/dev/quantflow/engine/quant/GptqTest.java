package dev.quantflow.engine.quant;

import static org.assertj.core.api.Assertions.assertThat;

import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.quantflow.engine.model.Fp8Format;
import java.util.Arrays;
import java.util.Random;
import org.assertj.core.data.Offset;
import org.junit.jupiter.api.Test;

/** GPTQ on a small random layer with correlated inputs: lower layer-output error than round-to-nearest. */
class GptqTest {
    static final int OUT = 32, IN = 64, N = 512, GROUP = 16;

    static float[] correlatedInputs(long seed) {
        Random r = new Random(seed);
        float[] x = new float[N * IN];
        for (int n = 0; n < N; n++) {
            double common = r.nextGaussian();
            for (int i = 0; i < IN; i++) x[n * IN + i] = (float) (common * (i % 4 == 0 ? 2.0 : 0.5) + r.nextGaussian() * (1 + i % 3));
        }
        return x;
    }

    static double outputError(float[] w, float[] deq, float[] x) {
        double e = 0;
        for (int n = 0; n < N; n++)
            for (int o = 0; o < OUT; o++) {
                double d = 0;
                for (int i = 0; i < IN; i++) d += ((double) deq[o * IN + i] - w[o * IN + i]) * x[n * IN + i];
                e += d * d;
            }
        return e;
    }

    @Test
    void gptqBeatsRoundToNearestOnLayerOutput() {
        float[] w = QuantLinearTest.rand(OUT * IN, 1, 0.1f), x = correlatedInputs(2);
        InputStats stats = new InputStats(IN, true, 0);
        stats.record(x, N);
        double[] h = stats.hessian();
        double rtn = outputError(w, QuantizedMatrix.quantize(w, OUT, IN, IntRange.INT4_ASYM, GROUP, RangeMethod.MIN_MAX).dequantize(), x);
        QuantizedMatrix g = Gptq.quantize(w, OUT, IN, h, IntRange.INT4_ASYM, GROUP, false, Gptq.DEFAULT_DAMP);
        QuantizedMatrix ga = Gptq.quantize(w, OUT, IN, h, IntRange.INT4_ASYM, GROUP, true, Gptq.DEFAULT_DAMP);
        double gptq = outputError(w, g.dequantize(), x), actOrder = outputError(w, ga.dequantize(), x);
        assertThat(gptq).isLessThan(rtn * 0.8);
        assertThat(actOrder).isLessThan(rtn * 0.8);
        assertThat(g.layout().groupSize()).isEqualTo(GROUP);
    }

    @Test
    void theHessianIsTwiceTheInputCovariance() {
        float[] x = correlatedInputs(3);
        InputStats s = new InputStats(IN, true, 0);
        s.record(x, 100);
        s.record(Arrays.copyOfRange(x, 100 * IN, N * IN), N - 100);
        double[] h = s.hessian();
        for (int i = 0; i < IN; i += 7)
            for (int j = 0; j < IN; j += 5) {
                double ref = 0;
                for (int n = 0; n < N; n++) ref += (double) x[n * IN + i] * x[n * IN + j];
                assertThat(h[i * IN + j]).isCloseTo(2 * ref / N, Offset.offset(1e-4 * Math.abs(ref) / N + 1e-6));
            }
    }

    @Test
    void awqBeatsRoundToNearestWhenSomeInputChannelsAreLarge() {
        Random r = new Random(4);
        float[] x = new float[N * IN];
        for (int n = 0; n < N; n++) for (int i = 0; i < IN; i++) x[n * IN + i] = (float) (r.nextGaussian() * (i < 4 ? 20 : 1));
        float[] w = QuantLinearTest.rand(OUT * IN, 5, 0.1f);
        InputStats s = new InputStats(IN, false, 256);
        s.record(x, N);
        double rtn = outputError(w, QuantizedMatrix.quantize(w, OUT, IN, IntRange.INT4_ASYM, GROUP, RangeMethod.MIN_MAX).dequantize(), x);
        // AWQ's scale search + clip search on the layer, scales kept explicit: W' = Q(W diag s) diag(1/s)
        float[] mean = s.meanAbs();
        double best = Double.POSITIVE_INFINITY;
        for (int a = 0; a <= Awq.ALPHA_STEPS; a++) {
            float[] sc = Awq.scales(mean, (float) a / Awq.ALPHA_STEPS);
            float[] ws = new float[w.length], xs = s.sample();
            for (int o = 0; o < OUT; o++) for (int i = 0; i < IN; i++) ws[o * IN + i] = w[o * IN + i] * sc[i];
            for (int n = 0; n < s.sampleRows(); n++) for (int i = 0; i < IN; i++) xs[n * IN + i] /= sc[i];
            float[] deq = Awq.clipSearch(ws, OUT, IN, GROUP, xs, s.sampleRows()).dequantize();
            for (int o = 0; o < OUT; o++) for (int i = 0; i < IN; i++) deq[o * IN + i] /= sc[i];
            best = Math.min(best, outputError(w, deq, x));
        }
        assertThat(best).isLessThan(rtn * 0.8);
    }

    static float[] dequantize(Fp8Matrix m) {
        float[] d = new float[m.rows() * m.cols()];
        for (int r = 0; r < m.rows(); r++) for (int c = 0; c < m.cols(); c++) d[r * m.cols() + c] = m.dequantize(r, c);
        return d;
    }

    @Test
    void gptqOnTheFp8GridBeatsRoundToNearestOnLayerOutput() {
        float[] w = QuantLinearTest.rand(OUT * IN, 11, 0.1f), x = correlatedInputs(12);
        InputStats stats = new InputStats(IN, true, 0);
        stats.record(x, N);
        for (boolean perChannel : new boolean[] {true, false}) {
            Fp8Matrix rtn = Fp8Matrix.quantize(w, OUT, IN, Fp8Format.E4M3, perChannel);
            Fp8Matrix g = Gptq.quantizeFp8(w, OUT, IN, stats.hessian(), Fp8Format.E4M3, perChannel, Gptq.DEFAULT_DAMP);
            // the scales are RTN's absmax ones; every weight is a grid point of them; the output error (float64) is lower
            assertThat(g.scales()).isEqualTo(rtn.scales());
            assertThat(g.perChannel()).isEqualTo(perChannel);
            for (int o = 0; o < OUT; o++)
                for (int i = 0; i < IN; i++) {   // float64 product of the code and the scale: within fp32 rounding
                    double ref = (double) Fp8Format.E4M3.decode(g.q()[o * IN + i]) * g.scales()[o];
                    assertThat((double) g.dequantize(o, i)).isCloseTo(ref, Offset.offset(1e-6 * Math.abs(ref)));
                }
            double e = outputError(w, dequantize(g), x), r = outputError(w, dequantize(rtn), x);
            assertThat(e).isLessThan(r * 0.9);
        }
    }

    @Test
    void gptqOnTheMseObserversFp8ScalesKeepsThemAndBeatsTheirRoundToNearest() {
        float[] w = QuantLinearTest.rand(OUT * IN, 16, 0.1f), x = correlatedInputs(17);
        InputStats stats = new InputStats(IN, true, 0);
        stats.record(x, N);
        Fp8Matrix mse = Fp8Matrix.quantizeMse(w, OUT, IN, Fp8Format.E4M3, true);
        float[] start = new float[OUT * IN];
        Fp8Matrix g = Gptq.quantizeFp8(w, OUT, IN, stats.hessian(), Fp8Format.E4M3, true, true, Gptq.DEFAULT_DAMP, start);
        assertThat(g.scales()).isEqualTo(mse.scales());
        for (int o = 0; o < OUT; o++)
            for (int i = 0; i < IN; i++) {   // the weight as GPTQ rounded it (error feedback included) rounds to its code
                assertThat(g.q()[o * IN + i]).isEqualTo(Fp8Format.E4M3.encode(start[o * IN + i] / g.scales()[o]));
                double ref = (double) Fp8Format.E4M3.decode(g.q()[o * IN + i]) * g.scales()[o];
                assertThat((double) g.dequantize(o, i)).isCloseTo(ref, Offset.offset(1e-6 * Math.abs(ref)));
            }
        assertThat(outputError(w, dequantize(g), x)).isLessThan(outputError(w, dequantize(mse), x) * 0.9);
    }

    @Test
    void actOrderOnTheFp8GridKeepsTheScalesAndEveryCodeIsItsRoundedWeights() {
        float[] w = QuantLinearTest.rand(OUT * IN, 18, 0.1f), x = correlatedInputs(19);
        InputStats stats = new InputStats(IN, true, 0);
        stats.record(x, N);
        Fp8Matrix rtn = Fp8Matrix.quantize(w, OUT, IN, Fp8Format.E4M3, true);
        float[] start = new float[OUT * IN];
        Fp8Matrix inOrder = Gptq.quantizeFp8(w, OUT, IN, stats.hessian(), Fp8Format.E4M3, true, false, false, Gptq.DEFAULT_DAMP, null);
        Fp8Matrix g = Gptq.quantizeFp8(w, OUT, IN, stats.hessian(), Fp8Format.E4M3, true, false, true, Gptq.DEFAULT_DAMP, start);
        assertThat(g.scales()).isEqualTo(rtn.scales());
        for (int o = 0; o < OUT; o++)
            for (int i = 0; i < IN; i++) assertThat(g.q()[o * IN + i]).isEqualTo(Fp8Format.E4M3.encode(start[o * IN + i] / g.scales()[o]));
        assertThat(g.q()).isNotEqualTo(inOrder.q());   // another column order, other codes
        assertThat(outputError(w, dequantize(g), x)).isLessThan(outputError(w, dequantize(rtn), x) * 0.9);
    }

    @Test
    void theIntGridThroughThePluggableCoreKeepsItsRange() {
        float[] w = QuantLinearTest.rand(OUT * IN, 13, 0.1f), x = correlatedInputs(14);
        InputStats stats = new InputStats(IN, true, 0);
        stats.record(x, N);
        Gptq.IntGrid grid = new Gptq.IntGrid(IntRange.INT8_SYM, OUT, IN, IN);
        Gptq.run(w, OUT, IN, stats.hessian(), grid, false, Gptq.DEFAULT_DAMP, null);
        QuantizedMatrix m = grid.matrix();
        assertThat(m).usingRecursiveComparison().isEqualTo(Gptq.quantize(w, OUT, IN, stats.hessian(), IntRange.INT8_SYM, IN, false, Gptq.DEFAULT_DAMP));
        double rtn = outputError(w, QuantizedMatrix.quantize(w, OUT, IN, IntRange.INT8_SYM, IN, RangeMethod.MIN_MAX).dequantize(), x);
        assertThat(outputError(w, m.dequantize(), x)).isLessThan(rtn);
    }

    @Test
    void mseFp8ScalesLowerTheNormErrorOfEveryRowAgainstFloat64() {
        Random r = new Random(15);
        float[] w = new float[OUT * IN];
        for (int i = 0; i < w.length; i++) w[i] = (float) (r.nextGaussian() * 0.05 * (i % IN == 5 ? 8 : 1));   // one large column
        Fp8Matrix abs = Fp8Matrix.quantize(w, OUT, IN, Fp8Format.E4M3, true), mse = Fp8Matrix.quantizeMse(w, OUT, IN, Fp8Format.E4M3, true);
        for (int o = 0; o < OUT; o++) {
            assertThat(mse.scales()[o]).isBetween(abs.scales()[o] * 0.8f, abs.scales()[o]);
            double ea = 0, em = 0;
            for (int i = 0; i < IN; i++) {
                ea += Math.pow(Math.abs((double) abs.dequantize(o, i) - w[o * IN + i]), 2.4);
                em += Math.pow(Math.abs((double) mse.dequantize(o, i) - w[o * IN + i]), 2.4);
                assertThat(mse.q()[o * IN + i]).isEqualTo(Fp8Format.E4M3.encode(w[o * IN + i] / mse.scales()[o]));
            }
            assertThat(em).isLessThanOrEqualTo(ea);
        }
        Fp8Matrix t = Fp8Matrix.quantizeMse(w, OUT, IN, Fp8Format.E4M3, false);
        assertThat(t.storedScales()).hasSize(1);
        float tensorAbsmax = Fp8Matrix.quantize(w, OUT, IN, Fp8Format.E4M3, false).scales()[0];
        assertThat(t.scales()[0]).isBetween(tensorAbsmax * 0.8f, tensorAbsmax);
    }

    @Test
    void theSchemeLanguageNamesTheWeightMethodsOfFp8W8A8AndW4A8() {
        QuantScheme f = QuantScheme.parse("fp8-w8a8:weights=gptq,smooth=0.5");
        assertThat(f).isEqualTo(new QuantScheme.Fp8W8A8(true, Fp8W8A8Linear.Act.TOKEN, QuantScheme.Fp8Weights.GPTQ, 0.5f));
        assertThat(f).hasToString("fp8-w8a8:weights=gptq,smooth=0.5");
        assertThat(f.needsCalibration()).isTrue();
        assertThat(QuantScheme.parse("fp8-w8a8:weights=mse").needsCalibration()).isFalse();
        QuantScheme gm = QuantScheme.parse("fp8-w8a8:weights=gptq-mse,lkd=true,lkd-steps=50");
        assertThat(gm).hasToString("fp8-w8a8:weights=gptq-mse,lkd=true,lkd-steps=50");
        assertThat(QuantScheme.parse(gm.toString())).isEqualTo(gm);
        assertThat(gm.lkd()).isTrue();
        assertThat(QuantScheme.parse("fp8-w8a8:lkd=true").needsCalibration()).isTrue();
        assertThatThrownBy(() -> QuantScheme.parse("fp8-w8a8:act=static,lkd=true")).hasMessageContaining("act=token");
        assertThatThrownBy(() -> QuantScheme.parse("fp8-w8a8:weights=awq")).hasMessageContaining("gptq-mse");
        assertThat(QuantScheme.parse("fp8-w8a8:weights=rtn")).hasToString("fp8-w8a8").isEqualTo(new QuantScheme.Fp8W8A8(true, Fp8W8A8Linear.Act.TOKEN));
        assertThat(QuantScheme.parse("fp8-w8a8:act=static,scale=tensor,weights=mse,smooth=0.8")).hasToString("fp8-w8a8:act=static,scale=tensor,weights=mse,smooth=0.8");
        QuantScheme ao = QuantScheme.parse("fp8-w8a8:weights=gptq-mse,act-order=true,smooth=search");
        assertThat(ao).hasToString("fp8-w8a8:weights=gptq-mse,act-order=true,smooth=search").isEqualTo(QuantScheme.parse(ao.toString()));
        assertThat(((QuantScheme.Fp8W8A8) ao).actOrder()).isTrue();
        assertThatThrownBy(() -> QuantScheme.parse("fp8-w8a8:weights=mse,act-order=true")).hasMessageContaining("act-order");
        for (String s : new String[] {"fp8-w8a8:weights=gptq,smooth=0.5", "fp8-w8a8:act=tensor,weights=mse", "w4a8:group=64,weights=gptq", "w4a8:group=32,weights=gptq,lkd=true,lkd-steps=7"})
            assertThat(QuantScheme.parse(QuantScheme.parse(s).toString())).isEqualTo(QuantScheme.parse(s));
        QuantScheme w = QuantScheme.parse("w4a8:group=64,weights=gptq");
        assertThat(w).isEqualTo(new QuantScheme.W4A8(64, null, QuantScheme.Int4Method.GPTQ));
        assertThat(w.needsCalibration()).isTrue();
        assertThat(QuantScheme.parse("w4a8:weights=rtn")).hasToString("w4a8:group=128");
        assertThatThrownBy(() -> QuantScheme.parse("w4a8:weights=awq")).hasMessageContaining("weights=rtn or gptq");
        assertThatThrownBy(() -> QuantScheme.parse("fp8-w8a8:weights=awq")).hasMessageContaining("weights must be one of");
        assertThatThrownBy(() -> QuantScheme.parse("fp8-w8a8:smooth=2")).hasMessageContaining("smooth must be in [0, 1]");
        assertThatThrownBy(() -> QuantScheme.parse("fp8:weights=gptq")).hasMessageContaining("unknown parameter");
    }
}
