package dev.quantflow.engine.sample;

import java.util.Arrays;
import java.util.SplittableRandom;

/** Picks tokens for one sequence: greedy, or temperature -> top-k -> top-p -> a seeded draw. */
public final class Sampler {
    private final SamplingParams p;
    private final SplittableRandom random;

    public Sampler(SamplingParams p) {
        this.p = p;
        this.random = new SplittableRandom(p.seed());
    }

    /** Index of the largest logit (the lowest index on ties). */
    public static int argmax(float[] logits, int off, int n) {
        int best = 0;
        float max = logits[off];
        for (int i = 1; i < n; i++) if (logits[off + i] > max) { max = logits[off + i]; best = i; }
        return best;
    }

    /** The next token from logits[off..off+vocab). Does not modify logits. */
    public int sample(float[] logits, int off, int vocab) {
        if (p.greedy()) return argmax(logits, off, vocab);
        // candidates sorted by logit, descending; top-k cuts the list before the softmax
        Integer[] idx = new Integer[vocab];
        for (int i = 0; i < vocab; i++) idx[i] = i;
        Arrays.sort(idx, (a, b) -> Float.compare(logits[off + b], logits[off + a]));
        int n = p.topK() > 0 ? Math.min(p.topK(), vocab) : vocab;
        double[] prob = new double[n];
        double max = logits[off + idx[0]], sum = 0;
        for (int i = 0; i < n; i++) {
            prob[i] = Math.exp((logits[off + idx[i]] - max) / p.temperature());
            sum += prob[i];
        }
        // top-p: the smallest prefix whose mass reaches topP
        double cum = 0;
        int keep = n;
        for (int i = 0; i < n; i++) {
            cum += prob[i] / sum;
            if (cum >= p.topP()) { keep = i + 1; break; }
        }
        double mass = 0;
        for (int i = 0; i < keep; i++) mass += prob[i];
        double r = random.nextDouble() * mass;
        for (int i = 0; i < keep; i++) {
            r -= prob[i];
            if (r < 0) return idx[i];
        }
        return idx[keep - 1];
    }

    /** log softmax of logits[off..off+n) at token id (for logprobs). */
    public static float logProb(float[] logits, int off, int n, int id) {
        float max = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < n; i++) max = Math.max(max, logits[off + i]);
        double sum = 0;
        for (int i = 0; i < n; i++) sum += Math.exp(logits[off + i] - max);
        return (float) (logits[off + id] - max - Math.log(sum));
    }
}
