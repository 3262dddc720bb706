package dev.quantflow.engine.sample;

import java.util.Arrays;
import java.util.BitSet;
import java.util.HashMap;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Picks tokens for one sequence: the logits adjusted (logit bias, bans, repetition / frequency /
 * presence penalties over this sequence's own history), then greedy, or temperature -> top-k ->
 * min-p -> top-p -> a seeded draw. Stateful per sequence: {@link #record} each accepted token.
 */
public final class Sampler {
    private static final int[] NO_BANS = new int[0];

    private final SamplingParams p;
    private final SplittableRandom random;
    private final BitSet prompt = new BitSet();                    // for the repetition penalty
    private final Map<Integer, Integer> generated = new HashMap<>();   // token -> count, for all three penalties
    private float[] scratch = new float[0];

    public Sampler(SamplingParams p) {
        this(p, new int[0]);
    }

    /** prompt: the tokens the repetition penalty counts besides the generated ones. */
    public Sampler(SamplingParams p, int[] prompt) {
        this.p = p;
        this.random = new SplittableRandom(p.seed());
        if (p.repetitionPenalty() != 1f) for (int t : prompt) if (t >= 0) this.prompt.set(t);
    }

    /** Adds an accepted token to the history the penalties read. */
    public void record(int token) {
        generated.merge(token, 1, Integer::sum);
    }

    /** log softmax of the raw logits at token (the logprob OpenAI reports, and best_of ranks by). */
    public static double logprob(float[] logits, int off, int vocab, int token) {
        float max = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < vocab; i++) max = Math.max(max, logits[off + i]);
        double sum = 0;
        for (int i = 0; i < vocab; i++) sum += Math.exp(logits[off + i] - max);
        return logits[off + token] - max - Math.log(sum);
    }

    /** The next token from logits[off..off+vocab). Does not modify logits. */
    public int sample(float[] logits, int off, int vocab) {
        return sample(logits, off, vocab, NO_BANS);
    }

    /** The same, with banned tokens impossible (min_tokens: EOS and stop token ids until then). */
    public int sample(float[] logits, int off, int vocab, int[] banned) {
        if (!p.adjustsLogits() && banned.length == 0) return pick(logits, off, vocab);
        if (scratch.length < vocab) scratch = new float[vocab];
        System.arraycopy(logits, off, scratch, 0, vocab);
        adjust(scratch, vocab, banned);
        return pick(scratch, 0, vocab);
    }

    /** vLLM's order: bias and bans, then repetition, frequency and presence penalties. */
    private void adjust(float[] l, int vocab, int[] banned) {
        for (Map.Entry<Integer, Float> b : p.logitBias().entrySet()) if (b.getKey() < vocab) l[b.getKey()] += b.getValue();
        for (int t : banned) if (t >= 0 && t < vocab) l[t] = Float.NEGATIVE_INFINITY;
        float rp = p.repetitionPenalty();
        if (rp != 1f) {
            for (int t = prompt.nextSetBit(0); t >= 0 && t < vocab; t = prompt.nextSetBit(t + 1)) l[t] = repetition(l[t], rp);
            for (int t : generated.keySet()) if (t < vocab && !prompt.get(t)) l[t] = repetition(l[t], rp);
        }
        if (p.frequencyPenalty() != 0f || p.presencePenalty() != 0f)
            for (Map.Entry<Integer, Integer> g : generated.entrySet())
                if (g.getKey() < vocab) l[g.getKey()] -= p.frequencyPenalty() * g.getValue() + p.presencePenalty();
    }

    private static float repetition(float logit, float penalty) {
        return logit > 0 ? logit / penalty : logit * penalty;
    }

    private int pick(float[] logits, int off, int vocab) {
        int best = argmax(logits, off, vocab);
        if (p.greedy() || logits[off + best] == Float.NEGATIVE_INFINITY) return best;
        return draw(logits, off, vocab);
    }

    /** Index of the largest logit (the lowest index on ties). */
    public static int argmax(float[] logits, int off, int n) {
        int best = 0;
        float max = logits[off];
        for (int i = 1; i < n; i++) if (logits[off + i] > max) { max = logits[off + i]; best = i; }
        return best;
    }

    private int draw(float[] logits, int off, int vocab) {
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
