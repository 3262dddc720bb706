package dev.quantflow.engine.quant;

import static org.assertj.core.api.Assertions.assertThat;

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
}
