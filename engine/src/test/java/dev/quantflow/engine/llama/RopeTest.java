package dev.quantflow.engine.llama;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.quantflow.engine.model.LlamaConfig;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** The rotation frequencies Rope uses, read back from what it does to unit vectors at position 1. */
class RopeTest {
    static LlamaConfig config(String ropeScaling) throws Exception {
        return LlamaConfig.parse(new ObjectMapper().readTree("""
                {"architectures":["LlamaForCausalLM"],"hidden_size":4096,"intermediate_size":14336,"num_attention_heads":32,
                 "num_key_value_heads":8,"num_hidden_layers":32,"vocab_size":128256,"rope_theta":500000.0,
                 "rope_scaling":%s}""".formatted(ropeScaling)), Path.of("config.json"));
    }

    /** Angle per position of pair i, as Rope applies it. */
    static double[] frequencies(LlamaConfig c) {
        Rope rope = new Rope(c);
        int hd = c.headDim(), half = hd / 2;
        double[] f = new double[half];
        for (int i = 0; i < half; i++) {
            float[] x = new float[hd];
            x[i] = 1;
            rope.apply(x, 0, 1, 1, new float[half], new float[half]);
            f[i] = Math.atan2(x[i + half], x[i]);
        }
        return f;
    }

    @Test
    void unscaledFrequenciesAreThetaPowers() throws Exception {
        double[] f = frequencies(config("null"));
        for (int i = 0; i < f.length; i++) assertThat(f[i]).isCloseTo(Math.pow(500000.0, -2.0 * i / 128), within(1e-6 * Math.pow(500000.0, -2.0 * i / 128) + 1e-9));
    }

    @Test
    void llama3ScalingStretchesOnlyLowFrequencies() throws Exception {
        double[] base = frequencies(config("null"));
        double[] f = frequencies(config("""
                {"factor":8.0,"low_freq_factor":1.0,"high_freq_factor":4.0,"original_max_position_embeddings":8192,"rope_type":"llama3"}"""));
        int high = 0, low = 0, mid = 0;
        for (int i = 0; i < f.length; i++) {
            double wavelen = 2 * Math.PI / base[i];
            if (wavelen < 8192 / 4.0) {
                assertThat(f[i]).as("pair %d", i).isEqualTo(base[i]);
                high++;
            } else if (wavelen > 8192 / 1.0) {
                assertThat(f[i]).as("pair %d", i).isCloseTo(base[i] / 8, within(base[i] * 1e-6));
                low++;
            } else {
                assertThat(f[i]).as("pair %d", i).isBetween(base[i] / 8, base[i]);
                mid++;
            }
        }
        assertThat(high).isPositive();
        assertThat(low).isPositive();
        assertThat(mid).isPositive();
    }

    @Test
    void linearScalingDividesEveryFrequency() throws Exception {
        double[] base = frequencies(config("null"));
        double[] f = frequencies(config("{\"type\":\"linear\",\"factor\":4.0}"));
        for (int i = 0; i < f.length; i++) assertThat(f[i]).isCloseTo(base[i] / 4, within(base[i] * 1e-6));
    }

    @Test
    void dynamicScalingGrowsTheBaseOnlyPastMaxPositionEmbeddings() throws Exception {
        LlamaConfig c = LlamaConfig.parse(new ObjectMapper().readTree("""
                {"architectures":["LlamaForCausalLM"],"hidden_size":4096,"intermediate_size":14336,"num_attention_heads":32,
                 "num_hidden_layers":32,"vocab_size":32000,"max_position_embeddings":4096,"rope_scaling":{"type":"dynamic","factor":2.0}}"""),
                Path.of("config.json"));
        Rope rope = new Rope(c);
        float[] base = rope.invFreq();
        assertThat(rope.invFreq(4096)).containsExactly(base);
        // NTK: base * (factor * len / max - (factor - 1)) ^ (d / (d - 2)), here at twice max_position_embeddings
        double grown = 10000.0 * Math.pow(2.0 * 8192 / 4096 - 1, 128 / 126.0);
        float[] f = rope.invFreq(8192);
        for (int i = 0; i < f.length; i++) assertThat((double) f[i]).isCloseTo(Math.pow(grown, -2.0 * i / 128), within(Math.pow(grown, -2.0 * i / 128) * 1e-6));
        assertThat(f[f.length - 1]).isLessThan(base[base.length - 1]);
    }
}
