package dev.quantflow.actors.sampler;

import dev.quantflow.actors.api.TokenEvent;
import dev.quantflow.engine.tokenizer.IncrementalDetokenizer;
import java.util.ArrayList;
import java.util.List;

/** Log-probabilities of the chosen token (with its rank) and of the n most likely ones, from raw logits (before temperature). */
final class Logprobs {
    private Logprobs() {}

    /**
     * Token strings and bytes are what each token adds to the sequence's text at this point, read
     * from its detokenizer before the chosen token is pushed: they concatenate to the completion.
     */
    static TokenEvent.TokenLogprob of(IncrementalDetokenizer text, float[] logits, int off, int vocab, int chosen, int n) {
        float max = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < vocab; i++) max = Math.max(max, logits[off + i]);
        double sum = 0;
        for (int i = 0; i < vocab; i++) sum += Math.exp(logits[off + i] - max);
        float logZ = (float) (max + Math.log(sum));
        List<TokenEvent.TopLogprob> top = new ArrayList<>();
        for (int id : topIds(logits, off, vocab, Math.min(n, vocab)))
            top.add(new TokenEvent.TopLogprob(id, text.peek(id), text.peekBytes(id), logits[off + id] - logZ));
        int rank = 1;
        for (int i = 0; i < vocab; i++) if (logits[off + i] > logits[off + chosen]) rank++;
        return new TokenEvent.TokenLogprob(chosen, text.peek(chosen), text.peekBytes(chosen), logits[off + chosen] - logZ, top, rank);
    }

    /** The n largest logits' ids, largest first (lowest id on ties); a partial selection, O(vocab * n). n = 0: none. */
    static int[] topIds(float[] logits, int off, int vocab, int n) {
        int[] ids = new int[n];
        if (n == 0) return ids;
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
