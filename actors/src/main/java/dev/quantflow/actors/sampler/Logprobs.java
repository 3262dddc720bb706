package dev.quantflow.actors.sampler;

import dev.quantflow.actors.api.TokenEvent;
import dev.quantflow.engine.tokenizer.Tokenizer;
import java.util.ArrayList;
import java.util.List;

/** Log-probabilities of the chosen token and of the n most likely ones, from raw logits (before temperature). */
final class Logprobs {
    private Logprobs() {}

    static TokenEvent.TokenLogprob of(Tokenizer tokenizer, float[] logits, int off, int vocab, int chosen, int n) {
        float max = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < vocab; i++) max = Math.max(max, logits[off + i]);
        double sum = 0;
        for (int i = 0; i < vocab; i++) sum += Math.exp(logits[off + i] - max);
        float logZ = (float) (max + Math.log(sum));
        List<TokenEvent.TopLogprob> top = new ArrayList<>();
        for (int id : topIds(logits, off, vocab, Math.min(n, vocab)))
            top.add(new TokenEvent.TopLogprob(id, tokenizer.decode(id), logits[off + id] - logZ));
        return new TokenEvent.TokenLogprob(chosen, tokenizer.decode(chosen), logits[off + chosen] - logZ, top);
    }

    /** The n largest logits' ids, largest first (lowest id on ties); a partial selection, O(vocab * n). */
    private static int[] topIds(float[] logits, int off, int vocab, int n) {
        int[] ids = new int[n];
        int size = 0;
        for (int i = 0; i < vocab; i++) {
            float v = logits[off + i];
            if (size == n && v <= logits[off + ids[size - 1]]) continue;
            int p = size < n ? size++ : size - 1;
            while (p > 0 && logits[off + ids[p - 1]] < v) { ids[p] = ids[p - 1]; p--; }
            ids[p] = i;
        }
        return ids;
    }
}
