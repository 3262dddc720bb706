package dev.quantflow.engine.sample;

import java.util.Arrays;
import java.util.SplittableRandom;

/** Picks tokens for one sequence: greedy, or temperature -> top-k -> min-p -> top-p -> a seeded draw. */
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
        // candidates sorted by logit, descending (primitive sort of (logit, id) keys; no boxing of
        // a 128K vocabulary per token); top-k cuts the list before the softmax
        int[] idx = sortedByLogitDescending(logits, off, vocab);
        int n = p.topK() > 0 ? Math.min(p.topK(), vocab) : vocab;
        double[] prob = new double[n];
        double max = logits[off + idx[0]], sum = 0;
        for (int i = 0; i < n; i++) prob[i] = Math.exp((logits[off + idx[i]] - max) / p.temperature());
        // min-p (before top-p, as vLLM): drop tokens less likely than minP times the best (prob[0] = 1)
        if (p.minP() > 0f) {
            int kept = 1;
            while (kept < n && prob[kept] >= p.minP()) kept++;
            n = kept;
        }
        for (int i = 0; i < n; i++) sum += prob[i];
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

    /** Token ids ordered by logit, largest first; ties keep the lower id first. */
    static int[] sortedByLogitDescending(float[] logits, int off, int n) {
        long[] keys = new long[n];
        for (int i = 0; i < n; i++) {
            int bits = Float.floatToIntBits(logits[off + i]);
            int ordered = bits >= 0 ? bits : bits ^ 0x7FFFFFFF;     // total order of floats as ints
            keys[i] = ((long) ~ordered << 32) | i;                   // ~ : descending by logit, then ascending id
        }
        Arrays.sort(keys);
        int[] ids = new int[n];
        for (int i = 0; i < n; i++) ids[i] = (int) keys[i];
        return ids;
    }
}
