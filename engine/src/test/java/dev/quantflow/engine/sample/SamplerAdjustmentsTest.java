package dev.quantflow.engine.sample;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.util.HashMap;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * logit_bias, repetition / frequency / presence penalties and bans against a float64 reference of
 * vLLM's formulas, on random logits and random histories: greedy picks equal the reference's
 * argmax, and seeded draws follow the reference's softmax.
 */
class SamplerAdjustmentsTest {
    /** vLLM: bias, then repetition over prompt + generated, then frequency * count + presence over generated. */
    static double[] reference(float[] logits, int[] prompt, int[] generated, double presence, double frequency, double repetition,
                              Map<Integer, Double> bias, int[] banned) {
        double[] l = new double[logits.length];
        for (int i = 0; i < l.length; i++) l[i] = logits[i];
        bias.forEach((id, b) -> l[id] += b);
        for (int t : banned) l[t] = Double.NEGATIVE_INFINITY;
        boolean[] seen = new boolean[l.length];
        int[] counts = new int[l.length];
        for (int t : prompt) seen[t] = true;
        for (int t : generated) { seen[t] = true; counts[t]++; }
        for (int i = 0; i < l.length; i++) {
            if (seen[i]) l[i] = l[i] > 0 ? l[i] / repetition : l[i] * repetition;
            l[i] -= frequency * counts[i] + (counts[i] > 0 ? presence : 0);
        }
        return l;
    }

    @Test
    void greedyPicksTheArgmaxOfTheAdjustedLogits() {
        Random r = new Random(17);
        int vocab = 64;
        for (int trial = 0; trial < 500; trial++) {
            float[] logits = new float[vocab];
            for (int i = 0; i < vocab; i++) logits[i] = (float) (r.nextGaussian() * 2);
            int[] prompt = r.ints(r.nextInt(8), 0, vocab).toArray();
            int[] generated = r.ints(r.nextInt(12), 0, vocab).toArray();
            double presence = r.nextDouble() * 4 - 2, frequency = r.nextDouble() * 4 - 2, repetition = 0.5 + r.nextDouble() * 1.5;
            Map<Integer, Double> bias = new HashMap<>();
            for (int k = r.nextInt(4); k > 0; k--) bias.put(r.nextInt(vocab), r.nextDouble() * 200 - 100);
            int[] banned = r.nextBoolean() ? new int[] {r.nextInt(vocab)} : new int[0];
            SamplingParams p = new SamplingParams(0f, 0, 1f, 0f, 1).withAdjustments(presence, frequency, repetition, bias);
            Sampler s = new Sampler(p, prompt);
            for (int t : generated) s.record(t);
            double[] ref = reference(logits, prompt, generated, (float) presence, (float) frequency, (float) repetition, floats(bias), banned);
            int expected = 0;
            for (int i = 1; i < vocab; i++) if (ref[i] > ref[expected]) expected = i;
            int got = s.sample(logits, 0, vocab, banned);
            // equal, or a tie within float rounding
            assertThat(ref[got]).as("trial %d", trial).isCloseTo(ref[expected], within(1e-4));
        }
    }

    @Test
    void seededDrawsFollowTheSoftmaxOfTheAdjustedLogits() {
        float[] logits = {0.5f, 1.5f, 0.2f, 1.0f, -0.3f};
        int[] prompt = {1, 3};
        int[] generated = {1, 1, 4};
        Map<Integer, Double> bias = Map.of(2, 1.0);
        SamplingParams p = new SamplingParams(1f, 0, 1f, 0f, 99).withAdjustments(0.3, 0.2, 1.3, bias);
        Sampler s = new Sampler(p, prompt);
        for (int t : generated) s.record(t);
        double[] ref = reference(logits, prompt, generated, 0.3f, 0.2f, 1.3f, floats(bias), new int[0]);
        double max = Double.NEGATIVE_INFINITY, sum = 0;
        for (double v : ref) max = Math.max(max, v);
        double[] prob = new double[ref.length];
        for (int i = 0; i < ref.length; i++) sum += prob[i] = Math.exp(ref[i] - max);
        int n = 40_000;
        int[] counts = new int[logits.length];
        for (int i = 0; i < n; i++) counts[s.sample(logits, 0, logits.length)]++;
        for (int i = 0; i < logits.length; i++) assertThat(counts[i] / (double) n).as("token %d", i).isCloseTo(prob[i] / sum, within(0.012));
    }

    @Test
    void biasMinusHundredBansAndBansHoldEvenWhenSampling() {
        float[] logits = {5f, 4f, 3f};
        Sampler s = new Sampler(new SamplingParams(2f, 0, 1f, 0f, 5).withAdjustments(0, 0, 1, Map.of(0, -100.0)));
        for (int i = 0; i < 2000; i++) assertThat(s.sample(logits, 0, 3, new int[] {1})).isEqualTo(2);
    }

    @Test
    void neutralAdjustmentsLeaveTheDrawsAsTheyWere() {
        float[] logits = new float[200];
        Random r = new Random(4);
        for (int i = 0; i < logits.length; i++) logits[i] = (float) r.nextGaussian();
        Sampler a = new Sampler(new SamplingParams(1f, 0, 0.9f, 0.05f, 8));
        Sampler b = new Sampler(new SamplingParams(1f, 0, 0.9f, 0.05f, 8).withAdjustments(0, 0, 1, Map.of()), new int[] {1, 2, 3});
        for (int i = 0; i < 100; i++) {
            int t = a.sample(logits, 0, logits.length);
            assertThat(b.sample(logits, 0, logits.length)).isEqualTo(t);
            b.record(t);
        }
    }

    @Test
    void outOfRangeValuesNameTheirParameter() {
        SamplingParams base = SamplingParams.GREEDY;
        assertThatThrownBy(() -> base.withAdjustments(2.5, 0, 1, Map.of())).isInstanceOfSatisfying(ParameterException.class, e -> assertThat(e.param()).isEqualTo("presence_penalty"));
        assertThatThrownBy(() -> base.withAdjustments(0, -2.01, 1, Map.of())).isInstanceOfSatisfying(ParameterException.class, e -> assertThat(e.param()).isEqualTo("frequency_penalty"));
        assertThatThrownBy(() -> base.withAdjustments(0, 0, 0, Map.of())).isInstanceOfSatisfying(ParameterException.class, e -> assertThat(e.param()).isEqualTo("repetition_penalty"));
        assertThatThrownBy(() -> base.withAdjustments(0, 0, 1e-60, Map.of())).isInstanceOfSatisfying(ParameterException.class, e -> assertThat(e.param()).isEqualTo("repetition_penalty"));
        assertThatThrownBy(() -> base.withAdjustments(0, 0, 1, Map.of(3, 101.0))).isInstanceOfSatisfying(ParameterException.class, e -> assertThat(e.param()).isEqualTo("logit_bias"));
        assertThatThrownBy(() -> base.withAdjustments(0, 0, 1, Map.of(-1, 1.0))).isInstanceOfSatisfying(ParameterException.class, e -> assertThat(e.param()).isEqualTo("logit_bias"));
    }

    @Test
    void logprobIsTheLogSoftmaxOfTheRawLogits() {
        float[] logits = {1f, 2f, 3f};
        double z = Math.log(Math.exp(1) + Math.exp(2) + Math.exp(3));
        assertThat(Sampler.logprob(logits, 0, 3, 1)).isCloseTo(2 - z, within(1e-6));
    }

    private static Map<Integer, Double> floats(Map<Integer, Double> bias) {
        Map<Integer, Double> m = new HashMap<>();
        bias.forEach((k, v) -> m.put(k, (double) (float) (double) v));
        return m;
    }
}
