package dev.quantflow.engine.sample;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.util.Random;
import org.junit.jupiter.api.Test;

class SamplerTest {
    @Test
    void greedyTakesTheLowestIdAmongEqualMaxima() {
        float[] logits = {1f, 3f, 3f, -2f};
        assertThat(new Sampler(SamplingParams.GREEDY).sample(logits, 0, 4)).isEqualTo(1);
    }

    @Test
    void sortOrdersNegativeAndPositiveLogitsDescending() {
        float[] logits = {-1f, 2.5f, -0f, 0f, -7f, 2.5f, Float.NEGATIVE_INFINITY};
        assertThat(Sampler.sortedByLogitDescending(logits, 0, logits.length)).containsExactly(1, 5, 3, 2, 0, 4, 6);
    }

    @Test
    void sameSeedSameTokensDifferentSeedDifferentTokens() {
        float[] logits = new float[500];
        Random r = new Random(3);
        for (int i = 0; i < logits.length; i++) logits[i] = (float) r.nextGaussian();
        int[] a = draw(new Sampler(new SamplingParams(1f, 0, 1f, 42)), logits, 50);
        int[] b = draw(new Sampler(new SamplingParams(1f, 0, 1f, 42)), logits, 50);
        int[] c = draw(new Sampler(new SamplingParams(1f, 0, 1f, 43)), logits, 50);
        assertThat(a).containsExactly(b);
        assertThat(a).isNotEqualTo(c);
    }

    @Test
    void topKNeverLeavesTheKBest() {
        float[] logits = {0f, 5f, 1f, 4.9f, 2f};
        Sampler s = new Sampler(new SamplingParams(2f, 2, 1f, 7));
        for (int i = 0; i < 200; i++) assertThat(s.sample(logits, 0, 5)).isIn(1, 3);
    }

    @Test
    void topPKeepsTheSmallestPrefixReachingTheMass() {
        // probabilities ~ 0.6, 0.3, 0.1 at temperature 1: top_p 0.8 keeps ids 0 and 1 only
        float[] logits = {(float) Math.log(0.6), (float) Math.log(0.3), (float) Math.log(0.1)};
        Sampler s = new Sampler(new SamplingParams(1f, 0, 0.8f, 11));
        int[] counts = new int[3];
        for (int i = 0; i < 4000; i++) counts[s.sample(logits, 0, 3)]++;
        assertThat(counts[2]).isZero();
        assertThat(counts[0] / 4000.0).isCloseTo(2.0 / 3, within(0.04));
    }

    @Test
    void temperatureSamplingFollowsTheSoftmax() {
        float[] logits = {0f, (float) Math.log(3)};   // p = 0.25, 0.75
        Sampler s = new Sampler(new SamplingParams(1f, 0, 1f, 5));
        int ones = 0;
        for (int i = 0; i < 8000; i++) ones += s.sample(logits, 0, 2);
        assertThat(ones / 8000.0).isCloseTo(0.75, within(0.025));
    }

    @Test
    void invalidParametersAreRejected() {
        assertThatThrownBy(() -> new SamplingParams(-0.1f, 0, 1f, 0)).hasMessageContaining("temperature");
        assertThatThrownBy(() -> new SamplingParams(1f, -1, 1f, 0)).hasMessageContaining("top_k");
        assertThatThrownBy(() -> new SamplingParams(1f, 0, 0f, 0)).hasMessageContaining("top_p");
        assertThatThrownBy(() -> new SamplingParams(Float.NaN, 0, 1f, 0)).hasMessageContaining("temperature");
    }

    @Test
    void minPDropsTokensLessLikelyThanThatShareOfTheBest() {
        // p ~ 0.5, 0.3, 0.15, 0.05: min_p 0.2 keeps ids whose p >= 0.1, i.e. 0, 1, 2, renormalized
        float[] logits = {(float) Math.log(0.5), (float) Math.log(0.3), (float) Math.log(0.15), (float) Math.log(0.05)};
        Sampler s = new Sampler(new SamplingParams(1f, 0, 1f, 0.2f, 3));
        int[] counts = new int[4];
        for (int i = 0; i < 6000; i++) counts[s.sample(logits, 0, 4)]++;
        assertThat(counts[3]).isZero();
        assertThat(counts[2] / 6000.0).isCloseTo(0.15 / 0.95, within(0.03));
        int[] all = new int[4];
        Sampler off = new Sampler(new SamplingParams(1f, 0, 1f, 0f, 3));
        for (int i = 0; i < 6000; i++) all[off.sample(logits, 0, 4)]++;
        assertThat(all[3]).as("min_p 0 is off").isPositive();
    }

    @Test
    void userValuesAreCheckedAsTheFloatsTheSamplerUses() {
        // 1e-300 is a valid double in (0, 1] but 0 as a float: refused, naming top_p
        assertThatThrownBy(() -> SamplingParams.of(1, 0, 1e-300, 0, 1)).isInstanceOfSatisfying(ParameterException.class, e -> {
            assertThat(e.param()).isEqualTo("top_p");
            assertThat(e.getMessage()).contains("1.0E-300").contains("32-bit float");
        });
        assertThat(SamplingParams.of(1, 0, 1e-40, 0, 1).topP()).isPositive();          // a float subnormal: keeps the best token
        assertThat(SamplingParams.of(1e-300, 0, 1, 0, 1).greedy()).isTrue();            // below the smallest float: greedy
        assertThat(SamplingParams.of(1, -1, 1, 0, 1).topK()).isZero();                  // -1 is off, as vLLM's
        for (double bad : new double[] {Double.NaN, Double.POSITIVE_INFINITY, -1e-300, 2.0000001, 1e300})
            assertThatThrownBy(() -> SamplingParams.of(bad, 0, 1, 0, 1)).isInstanceOfSatisfying(ParameterException.class, e -> assertThat(e.param()).isEqualTo("temperature"));
        for (double bad : new double[] {Double.NaN, -0.5, 1.5, Double.NEGATIVE_INFINITY})
            assertThatThrownBy(() -> SamplingParams.of(1, 0, 1, bad, 1)).isInstanceOfSatisfying(ParameterException.class, e -> assertThat(e.param()).isEqualTo("min_p"));
        for (long bad : new long[] {-2, Long.MIN_VALUE, 1L << 40})
            assertThatThrownBy(() -> SamplingParams.of(1, bad, 1, 0, 1)).isInstanceOfSatisfying(ParameterException.class, e -> assertThat(e.param()).isEqualTo("top_k"));
        assertThatThrownBy(() -> new SamplingParams(9f, 0, 1f, 0)).hasMessage("temperature must be between 0 and 2, got 9.0");
    }

    private static int[] draw(Sampler s, float[] logits, int n) {
        int[] out = new int[n];
        for (int i = 0; i < n; i++) out[i] = s.sample(logits, 0, logits.length);
        return out;
    }
}
