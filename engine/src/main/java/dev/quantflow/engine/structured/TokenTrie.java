package dev.quantflow.engine.structured;

import dev.quantflow.engine.tokenizer.IncrementalDetokenizer;
import dev.quantflow.engine.tokenizer.Tokenizer;
import java.util.Arrays;

/**
 * A model's vocabulary as a trie of each token's decoded bytes, so that one walk of the trie
 * beside an automaton finds every token an automaton state allows, sharing the work of common
 * prefixes (outlines' vocabulary index, in a trie). Tokens that render nothing (BOS, EOS) are not
 * in it. Immutable once built.
 */
final class TokenTrie {
    final int vocab;
    final byte[][] bytes;      // token id -> its bytes
    // nodes: children as a sorted run in child/label arrays; tokens ending at a node in a run of ids
    final int[] childStart, childEnd, childNode;
    final byte[] childLabel;
    final int[] tokenStart, tokenEnd, tokenIds;

    private TokenTrie(int vocab, byte[][] bytes, int[] childStart, int[] childEnd, int[] childNode, byte[] childLabel,
                      int[] tokenStart, int[] tokenEnd, int[] tokenIds) {
        this.vocab = vocab;
        this.bytes = bytes;
        this.childStart = childStart;
        this.childEnd = childEnd;
        this.childNode = childNode;
        this.childLabel = childLabel;
        this.tokenStart = tokenStart;
        this.tokenEnd = tokenEnd;
        this.tokenIds = tokenIds;
    }

    static TokenTrie of(Tokenizer tokenizer) {
        IncrementalDetokenizer d = tokenizer.newDetokenizer();
        int vocab = tokenizer.vocabSize();
        byte[][] bytes = new byte[vocab][];
        for (int id = 0; id < vocab; id++) bytes[id] = d.tokenBytes(id);
        // sort token ids by their bytes: a trie's nodes are then the distinct prefixes, visited in order
        Integer[] order = new Integer[vocab];
        for (int i = 0; i < vocab; i++) order[i] = i;
        Arrays.sort(order, (a, b) -> Arrays.compareUnsigned(bytes[a], bytes[b]));
        Builder b = new Builder(vocab);
        for (int id : order) if (bytes[id].length > 0) b.insert(bytes[id], id);
        return b.build(vocab, bytes);
    }

    /** A simple pointer trie, flattened at the end. */
    private static final class Builder {
        int[][] children = new int[1024][];   // node -> pairs (label, child)
        int[][] tokens = new int[1024][];
        int nodes = 1;

        Builder(int vocab) {}

        void insert(byte[] key, int id) {
            int node = 0;
            for (byte k : key) {
                int[] ch = children[node];
                int found = -1;
                if (ch != null) for (int i = 0; i < ch.length; i += 2) if (ch[i] == k) { found = ch[i + 1]; break; }
                if (found < 0) {
                    found = nodes++;
                    if (found >= children.length) { children = Arrays.copyOf(children, found * 2); tokens = Arrays.copyOf(tokens, found * 2); }
                    int[] n = ch == null ? new int[2] : Arrays.copyOf(ch, ch.length + 2);
                    n[n.length - 2] = k;
                    n[n.length - 1] = found;
                    children[node] = n;
                }
                node = found;
            }
            int[] t = tokens[node] == null ? new int[1] : Arrays.copyOf(tokens[node], tokens[node].length + 1);
            t[t.length - 1] = id;
            tokens[node] = t;
        }

        TokenTrie build(int vocab, byte[][] bytes) {
            int[] cs = new int[nodes], ce = new int[nodes], ts = new int[nodes], te = new int[nodes];
            int edges = 0, toks = 0;
            for (int n = 0; n < nodes; n++) {
                edges += children[n] == null ? 0 : children[n].length / 2;
                toks += tokens[n] == null ? 0 : tokens[n].length;
            }
            int[] cn = new int[edges], ti = new int[toks];
            byte[] cl = new byte[edges];
            int e = 0, t = 0;
            for (int n = 0; n < nodes; n++) {
                cs[n] = e;
                if (children[n] != null) for (int i = 0; i < children[n].length; i += 2) { cl[e] = (byte) children[n][i]; cn[e++] = children[n][i + 1]; }
                ce[n] = e;
                ts[n] = t;
                if (tokens[n] != null) for (int id : tokens[n]) ti[t++] = id;
                te[n] = t;
            }
            return new TokenTrie(vocab, bytes, cs, ce, cn, cl, ts, te, ti);
        }
    }
}
