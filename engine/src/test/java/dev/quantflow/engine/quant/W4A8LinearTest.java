package dev.quantflow.engine.quant;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** W4A8: int4 group weights x per-token int8 activations, against float64 on random inputs. */
class W4A8LinearTest {
    /** float64 of sum_g ws * xs * sum_i (q - z) * xq from the codes and the activation codes. */
    static double[] reference(QuantizedMatrix w, ActivationQuant a, int rows, float[] bias) {
        int out = w.rows(), in = w.cols();
        GroupLayout g = w.layout();
        double[] y = new double[rows * out];
        for (int r = 0; r < rows; r++)
            for (int o = 0; o < out; o++) {
                double t = 0;
                for (int k = 0; k < g.groups(); k++)
                    for (int c = g.start(k); c < g.end(k); c++)
                        t += (double) w.scale(o, k) * ((w.q()[o * in + c] & 0xFF) - w.zero(o, k)) * a.scales()[r] * a.q()[r * in + c];
                y[r * out + o] = t + (bias == null ? 0 : bias[o]);
            }
        return y;
    }

    @Test
    void kernelMatchesFloat64OnRandomShapes() {
        Random rnd = new Random(11);
        // vector kernel (groups of whole 32-column blocks or one group, rows padded to blocks) and the scalar path (group 48)
        int[][] shapes = {{13, 172, 32}, {8, 64, 64}, {7, 100, 128}, {5, 96, 48}, {16, 256, 128}, {3, 33, 32}};
        for (int[] sh : shapes) {
            int out = sh[0], in = sh[1], group = sh[2];
            float[] w = new float[out * in], bias = new float[out];
            for (int i = 0; i < w.length; i++) w[i] = (float) (rnd.nextGaussian() * 0.5 + (i % 7 == 0 ? 0.3 : 0));
            for (int o = 0; o < out; o++) bias[o] = (float) rnd.nextGaussian();
            W4A8Linear lin = W4A8Linear.rtn(w, out, in, group, bias, "w4a8:group=" + group);
            for (int rows : new int[] {1, 5}) {
                float[] x = new float[rows * in];
                for (int i = 0; i < x.length; i++) x[i] = (float) (rnd.nextGaussian() * (i % 31 == 0 ? 8 : 1));   // an outlier column or two
                float[] y = new float[rows * out];
                lin.forward(x, rows, y);
                double[] ref = reference(lin.weights(), ActivationQuant.quantize(x, rows, GroupLayout.perRow(in)), rows, bias);
                double max = 0;
                for (double v : ref) max = Math.max(max, Math.abs(v));
                for (int i = 0; i < y.length; i++)
                    assertThat(Math.abs(y[i] - ref[i])).as("%dx%d group %d, %d rows, output %d", out, in, group, rows, i).isLessThan(2e-6 * max + 1e-6);
                // and it is the int4 weights times the per-token int8 round trip of x (what the student of LKD computes with)
                float[] deq = lin.weights().dequantize();
                ActivationQuant a = ActivationQuant.quantize(x, rows, GroupLayout.perRow(in));
                for (int r = 0; r < rows; r++)
                    for (int o = 0; o < out; o++) {
                        double t = bias[o];
                        for (int c = 0; c < in; c++) t += (double) deq[o * in + c] * a.q()[r * in + c] * a.scales()[r];
                        assertThat(Math.abs(y[r * out + o] - t)).isLessThan(1e-5 * max + 1e-5);
                    }
            }
        }
    }

    /**
     * The panel kernel (Int4x8Panels) on shapes of many panels, row counts not multiples of the
     * panel (32 or 16 lanes), groups of 32/64/128: float64 reference, the extreme int8 codes, and
     * batch invariance (a row's output is the same bits alone and in a batch of 16).
     */
    @Test
    void panelKernelMatchesFloat64AndIsBatchInvariant() {
        Random rnd = new Random(29);
        int[][] shapes = {{45, 256, 64}, {70, 128, 32}, {33, 384, 128}, {1, 64, 64}, {100, 512, 64}};
        for (int[] sh : shapes) {
            int out = sh[0], in = sh[1], group = sh[2];
            float[] w = new float[out * in];
            for (int i = 0; i < w.length; i++) w[i] = (float) (rnd.nextGaussian() * 0.5 + (i % 5 == 0 ? 0.4 : 0));
            W4A8Linear lin = W4A8Linear.rtn(w, out, in, group, null, "w4a8:group=" + group);
            int rows = 16;
            float[] x = new float[rows * in];
            for (int i = 0; i < x.length; i++) x[i] = (float) rnd.nextGaussian();
            for (int i = 0; i < in; i++) x[i] = i % 2 == 0 ? 1f : -1f;   // row 0: every code +-127
            float[] y = new float[rows * out];
            lin.forward(x, rows, y);
            double[] ref = reference(lin.weights(), ActivationQuant.quantize(x, rows, GroupLayout.perRow(in)), rows, null);
            for (int r = 0; r < rows; r++) {
                double max = 0;
                for (int o = 0; o < out; o++) max = Math.max(max, Math.abs(ref[r * out + o]));
                for (int o = 0; o < out; o++)
                    assertThat(Math.abs(y[r * out + o] - ref[r * out + o])).as("%dx%d group %d, row %d, output %d", out, in, group, r, o).isLessThan(2e-6 * max + 1e-6);
                float[] one = new float[out];
                lin.forward(java.util.Arrays.copyOfRange(x, r * in, (r + 1) * in), 1, one);
                assertThat(one).as("row %d alone vs in the batch", r).isEqualTo(java.util.Arrays.copyOfRange(y, r * out, (r + 1) * out));
            }
        }
    }

    @Test
    void weightsAreInt4GroupLinearsBytesAndActOrderIsRefused() {
        Random rnd = new Random(3);
        int out = 12, in = 64;
        float[] w = new float[out * in];
        for (int i = 0; i < w.length; i++) w[i] = (float) rnd.nextGaussian();
        Int4GroupLinear i4 = Int4GroupLinear.rtn(w, out, in, 32, null, "w4a16-rtn:group=32");
        W4A8Linear lin = W4A8Linear.rtn(w, out, in, 32, null, "w4a8:group=32");
        assertThat(lin.weightBytes()).isEqualTo(i4.weightBytes());
        assertThat(lin.weights().q()).isEqualTo(i4.weights().q());
        int[] perm = new int[in];
        for (int i = 0; i < in; i++) perm[i] = in - 1 - i;
        assertThatThrownBy(() -> new W4A8Linear(new Int4GroupLinear(i4.weights(), perm, null, "x"), "w4a8")).hasMessageContaining("act-order");
    }

    @Test
    void schemeAndPresetParse() {
        QuantScheme s = QuantScheme.parse("w4a8:group=64,lkd=true,lkd-steps=50");
        assertThat(s).isEqualTo(new QuantScheme.W4A8(64, new Lkd.Settings(50, Lkd.Settings.DEFAULT.lr(), 128, 1, true)));
        assertThat(QuantScheme.parse(s.toString())).isEqualTo(s);
        assertThat(QuantScheme.parse("w4a8")).hasToString("w4a8:group=128");
        assertThat(QuantScheme.parse("w8a8-dynamic:lkd=true")).hasToString("w8a8-dynamic:lkd=true");
        assertThat(QuantScheme.parse("w8a8-dynamic:group=32,lkd=true").needsCalibration()).isTrue();
        QuantPlan p = QuantPlan.parse("w4a8-lkd:lkd-steps=10", List.of("layers.0.mlp.down_proj=w8a8-dynamic"));
        assertThat(p).hasToString("w4a8:group=64,lkd=true,lkd-steps=10 self_attn=w8a8-dynamic:lkd=true,lkd-steps=10 layers.0.mlp.down_proj=w8a8-dynamic");
        assertThat(p.schemeFor("model.layers.1.self_attn.q_proj")).isInstanceOf(QuantScheme.W8A8Dynamic.class);
        assertThat(p.schemeFor("model.layers.1.mlp.up_proj")).isInstanceOf(QuantScheme.W4A8.class);
        assertThat(p.schemeFor("lm_head")).isInstanceOf(QuantScheme.Fp32.class);
        assertThat(QuantPlan.parse("w4a8-lkd:group=32,lkd=false", List.of())).hasToString("w4a8:group=32 self_attn=w8a8-dynamic");
        assertThatThrownBy(() -> QuantPlan.parse("w4a8-lkd:act-order=true", List.of())).hasMessageContaining("unknown parameter");
    }
}
