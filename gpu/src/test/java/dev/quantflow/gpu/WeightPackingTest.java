package dev.quantflow.gpu;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Arrays;
import java.util.Random;
import org.assertj.core.data.Offset;
import org.junit.jupiter.api.Test;

class WeightPackingTest {
    private static float[] gauss(int n, long seed) {
        Random r = new Random(seed);
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) r.nextGaussian();
        return a;
    }

    @Test
    void int8PerChannelRoundTripsWithinHalfAStep() {
        int out = 7, in = 50;
        float[] w = gauss(out * in, 1);
        WeightPacking.Int8Channel p = EngineCodes.int8PerChannel(w, out, in);
        for (int n = 0; n < out; n++)
            for (int k = 0; k < in; k++) assertThat(Math.abs(p.q()[n * in + k] * p.scales()[n] - w[n * in + k])).isLessThanOrEqualTo(p.scales()[n] * 0.5001f);
    }

    @Test
    void int4PacksLowNibbleFirstAndRoundTripsWithinHalfAStep() {
        int out = 5, in = 64, group = 32;
        float[] w = gauss(out * in, 2);
        WeightPacking.Int4Groups p = EngineCodes.int4Groups(w, out, in, group);
        assertThat(p.packed()).hasSize(out * in / 2);
        for (int n = 0; n < out; n++)
            for (int k = 0; k < in; k++) {
                float scale = p.scales()[n * 2 + k / group];
                assertThat(Math.abs(p.dequant(n, k) - w[n * in + k])).isLessThanOrEqualTo(scale * 0.5001f);
            }
        assertThat(p.code(0, 0)).isEqualTo(p.packed()[0] & 15);
        assertThat(p.code(0, 1)).isEqualTo((p.packed()[0] & 0xff) >>> 4);
    }

    @Test
    void int4KeepsZeroExactAndConstantGroupsWork() {
        float[] w = new float[16];
        Arrays.fill(w, 0.25f);
        WeightPacking.Int4Groups p = EngineCodes.int4Groups(w, 1, 16, 8);
        for (int k = 0; k < 16; k++) assertThat(p.dequant(0, k)).isEqualTo(0.25f, Offset.offset(1e-6f));
        WeightPacking.Int4Groups zeros = EngineCodes.int4Groups(new float[16], 1, 16, 8);
        for (int k = 0; k < 16; k++) assertThat(zeros.dequant(0, k)).isZero();
    }

    @Test
    void groupsMustDivideTheRow() {
        assertThatThrownBy(() -> EngineCodes.int8Groups(new float[60], 1, 60, 32)).hasMessageContaining("must divide");
        assertThatThrownBy(() -> EngineCodes.int4Groups(new float[60], 1, 60, 7)).hasMessageContaining("even");
    }
}
