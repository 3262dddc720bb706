package dev.quantflow.engine.structured;

import java.util.concurrent.atomic.AtomicReferenceArray;

/**
 * An automaton over a vocabulary: for each automaton state, the set of tokens whose bytes keep a
 * valid output possible (XGrammar's precomputed masks, here computed the first time a state is
 * reached and kept). A mask is a bit set over token ids; computing one walks the vocabulary's trie
 * beside the automaton, cutting at the first refused byte. Thread-safe: masks are computed at most
 * a few times under a race and are then shared.
 */
public final class TokenAutomaton {
    private final ByteDfa dfa;
    private final TokenTrie trie;
    private final AtomicReferenceArray<long[]> masks;

    TokenAutomaton(ByteDfa dfa, TokenTrie trie) {
        this.dfa = dfa;
        this.trie = trie;
        this.masks = new AtomicReferenceArray<>(dfa.states());
    }

    public ByteDfa dfa() {
        return dfa;
    }

    public int vocab() {
        return trie.vocab;
    }

    /** Bit t set: token t may follow in state. Shared: do not modify. */
    public long[] mask(int state) {
        long[] m = masks.get(state);
        if (m == null) {
            m = compute(state);
            masks.compareAndSet(state, null, m);
        }
        return m;
    }

    /** The state after the token's bytes (as rendered mid-text), or -1. */
    public int next(int state, int token) {
        return dfa.walk(state, trie.bytes[token]);
    }

    private long[] compute(int state) {
        long[] m = new long[(trie.vocab + 63) >>> 6];
        // iterative DFS over (trie node, automaton state)
        int[] nodeStack = new int[64], stateStack = new int[64];
        int sp = 0;
        nodeStack[sp] = 0;
        stateStack[sp++] = state;
        while (sp > 0) {
            int node = nodeStack[--sp], s = stateStack[sp];
            for (int e = trie.childStart[node]; e < trie.childEnd[node]; e++) {
                int t = dfa.next(s, trie.childLabel[e]);
                if (t < 0) continue;
                int child = trie.childNode[e];
                for (int i = trie.tokenStart[child]; i < trie.tokenEnd[child]; i++) {
                    int id = trie.tokenIds[i];
                    m[id >>> 6] |= 1L << id;
                }
                if (sp == nodeStack.length) {
                    nodeStack = java.util.Arrays.copyOf(nodeStack, sp * 2);
                    stateStack = java.util.Arrays.copyOf(stateStack, sp * 2);
                }
                nodeStack[sp] = child;
                stateStack[sp++] = t;
            }
        }
        return m;
    }

    /** Masks computed so far (for tests and the benchmark). */
    public int computedMasks() {
        int n = 0;
        for (int i = 0; i < masks.length(); i++) if (masks.get(i) != null) n++;
        return n;
    }
}
