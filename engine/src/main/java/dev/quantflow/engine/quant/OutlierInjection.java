package dev.quantflow.engine.quant;

import dev.quantflow.engine.model.LlamaConfig;
import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.stream.IntStream;

/**
 * Makes a small model look like an LLM above 6.7B to LLM.int8(): a few fixed hidden channels with
 * huge activations at every linear input. Through each {@link ChannelFold}, N producer channels
 * are multiplied by K (RMSNorm weights; v_proj and up_proj rows) and the consumer columns they
 * feed divided by K (q/k/v, gate/up; o_proj, down_proj): the fp32 function is unchanged, but the
 * linear layers' inputs now carry K-times outliers in fixed channels. The same channels are used
 * in every layer (as the residual-stream outliers of real models), chosen from the seed.
 */
public final class OutlierInjection {
    private OutlierInjection() {}

    /** The chosen channels per fold kind: [0] hidden (norms), [1] v rows, [2] intermediate (up rows). */
    public static int[][] inject(LlamaConfig c, WeightEdits weights, int channels, float scale, long seed) {
        if (channels <= 0) throw new IllegalArgumentException("--channels must be positive");
        if (!(scale > 0) || Float.isInfinite(scale)) throw new IllegalArgumentException("--scale must be a positive number");
        SplittableRandom rnd = new SplittableRandom(seed);
        int[] hidden = pick(rnd, c.hiddenSize(), channels), vRows = pick(rnd, c.kvDim(), channels), up = pick(rnd, c.intermediateSize(), channels);
        for (ChannelFold f : ChannelFold.all(c)) {
            int[] chosen = f.producerIsNorm() ? hidden : f.producer().contains("v_proj") ? vRows : up;
            float[] s = new float[f.params()];
            Arrays.fill(s, 1f);
            for (int p : chosen) s[p] = 1f / scale;
            f.apply(weights, s);
        }
        return new int[][] {hidden, vRows, up};
    }

    private static int[] pick(SplittableRandom rnd, int n, int k) {
        if (k > n) throw new IllegalArgumentException("cannot pick " + k + " channels of " + n);
        int[] all = IntStream.range(0, n).toArray();
        for (int i = 0; i < k; i++) {
            int j = i + rnd.nextInt(n - i);
            int t = all[i];
            all[i] = all[j];
            all[j] = t;
        }
        int[] r = Arrays.copyOf(all, k);
        Arrays.sort(r);
        return r;
    }
}
