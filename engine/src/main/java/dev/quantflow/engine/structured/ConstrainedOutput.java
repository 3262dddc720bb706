package dev.quantflow.engine.structured;

import dev.quantflow.engine.tokenizer.IncrementalDetokenizer;
import java.util.Set;

/**
 * One sequence's place in its constraint's automaton: masks the logits of every token that cannot
 * continue a valid output (EOS only where the output so far is complete), and advances by the
 * bytes each chosen token adds to the text. Per sequence, so batching never mixes constraints.
 */
public final class ConstrainedOutput {
    private final TokenAutomaton automaton;
    private final Set<Integer> eos;
    private int state;

    public ConstrainedOutput(TokenAutomaton automaton, Set<Integer> eos) {
        this.automaton = automaton;
        this.eos = eos;
        this.state = automaton.dfa().start();
    }

    /**
     * Sets the logits of refused tokens to -infinity, in place. text is the sequence's detokenizer
     * before the next token: at the start of a text a leading space may be stripped, and then each
     * token is checked by the bytes it would really add. eosAllowed: EOS ends the sequence here.
     */
    public void mask(float[] logits, int off, int vocab, IncrementalDetokenizer text, boolean eosAllowed) {
        boolean eosOk = eosAllowed && automaton.dfa().accepting(state);
        float[] eosLogits = new float[eos.size()];
        int k = 0;
        for (int e : eos) eosLogits[k++] = e < vocab ? logits[off + e] : 0f;
        if (text.stripsLeadingSpaces()) maskByPeek(logits, off, vocab, text);
        else maskByTable(logits, off, vocab, automaton.mask(state));
        if (eosOk) {
            k = 0;
            for (int e : eos) { if (e < vocab) logits[off + e] = eosLogits[k]; k++; }
        }
    }

    private static void maskByTable(float[] logits, int off, int vocab, long[] mask) {
        int known = Math.min(vocab, mask.length << 6);
        for (int w = 0; w << 6 < known; w++) {
            long bits = mask[w];
            if (bits == -1L) continue;
            int base = w << 6, end = Math.min(64, known - base);
            if (bits == 0L) {
                java.util.Arrays.fill(logits, off + base, off + base + end, Float.NEGATIVE_INFINITY);
                continue;
            }
            for (int i = 0; i < end; i++) if ((bits & (1L << i)) == 0) logits[off + base + i] = Float.NEGATIVE_INFINITY;
        }
        // ids past the tokenizer's vocabulary (a padded embedding) render nothing
        if (vocab > known) java.util.Arrays.fill(logits, off + known, off + vocab, Float.NEGATIVE_INFINITY);
    }

    /** The slow path for the first token of a text: each token by the bytes it would add there. */
    private void maskByPeek(float[] logits, int off, int vocab, IncrementalDetokenizer text) {
        for (int t = 0; t < vocab; t++) {
            byte[] b = t < automaton.vocab() ? text.peekBytes(t) : new byte[0];
            if (b.length == 0 || automaton.dfa().walk(state, b) < 0) logits[off + t] = Float.NEGATIVE_INFINITY;
        }
    }

    /** Whether the token is allowed now, given the bytes it adds. */
    public boolean allows(byte[] bytes, boolean isEos) {
        if (isEos) return automaton.dfa().accepting(state);
        return bytes.length > 0 && automaton.dfa().walk(state, bytes) >= 0;
    }

    /** Moves past the bytes a chosen token added to the text. */
    public void advance(byte[] bytes) {
        int next = automaton.dfa().walk(state, bytes);
        if (next < 0) throw new IllegalStateException("a token outside the constraint was chosen");
        state = next;
    }

    /** The output is complete and nothing can follow: the sequence ends here. */
    public boolean complete() {
        return automaton.dfa().accepting(state) && !automaton.dfa().hasExit(state);
    }

    public boolean accepting() {
        return automaton.dfa().accepting(state);
    }
}
