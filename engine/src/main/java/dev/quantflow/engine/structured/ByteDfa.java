package dev.quantflow.engine.structured;

import dev.quantflow.engine.sample.ParameterException;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.BitSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A deterministic automaton over the UTF-8 bytes of the text a regular expression matches:
 * Thompson's construction (code point sets split into UTF-8 byte ranges), then the subset
 * construction over byte classes, then every state that cannot reach an accepting one is cut, so
 * that a byte either keeps a valid output possible or is refused (next gives -1). Immutable.
 */
public final class ByteDfa {
    /** Beyond this many states a constraint is refused as too complex (the masks are per state). */
    public static final int MAX_STATES = 20_000;

    private final int[] classOf;      // byte -> class
    private final int classes;
    private final int[] next;         // state * classes + class -> state, or -1
    private final boolean[] accepting;
    private final boolean[] hasExit;  // any byte leads on from here

    private ByteDfa(int[] classOf, int classes, int[] next, boolean[] accepting) {
        this.classOf = classOf;
        this.classes = classes;
        this.next = next;
        this.accepting = accepting;
        this.hasExit = new boolean[accepting.length];
        for (int s = 0; s < accepting.length; s++)
            for (int k = 0; k < classes; k++) if (next[s * classes + k] >= 0) { hasExit[s] = true; break; }
    }

    public int start() {
        return 0;
    }

    public int states() {
        return accepting.length;
    }

    /** The state after byte b, or -1 when b cannot continue a valid output. */
    public int next(int state, int b) {
        return next[state * classes + classOf[b & 0xFF]];
    }

    /** The state after the bytes, or -1. */
    public int walk(int state, byte[] bytes) {
        for (int i = 0; i < bytes.length && state >= 0; i++) state = next(state, bytes[i]);
        return state;
    }

    public boolean accepting(int state) {
        return accepting[state];
    }

    /** Whether any byte can follow: an accepting state without one is a complete output. */
    public boolean hasExit(int state) {
        return hasExit[state];
    }

    public boolean matches(String text) {
        int s = walk(start(), text.getBytes(java.nio.charset.StandardCharsets.UTF_8));
        return s >= 0 && accepting(s);
    }

    // ---------------------------------------------------------------- construction

    /** param names the request field in the error when the expression matches nothing or is too large. */
    static ByteDfa compile(String param, Rx rx) {
        Nfa nfa = new Nfa();
        int accept = nfa.state();
        int start = nfa.build(rx, accept);
        return determinize(param, nfa, start, accept);
    }

    /** Thompson NFA over bytes; states are ints, edges are byte ranges or epsilons. */
    private static final class Nfa {
        final List<int[]> ranges = new ArrayList<>();     // per state: lo, hi, target, lo, hi, target, ...
        final List<int[]> eps = new ArrayList<>();

        int state() {
            ranges.add(new int[0]);
            eps.add(new int[0]);
            if (ranges.size() > 400_000) throw new ParameterException("regex", "the constraint is too large");
            return ranges.size() - 1;
        }

        void edge(int from, int lo, int hi, int to) {
            int[] r = ranges.get(from);
            int[] n = Arrays.copyOf(r, r.length + 3);
            n[r.length] = lo; n[r.length + 1] = hi; n[r.length + 2] = to;
            ranges.set(from, n);
        }

        void epsilon(int from, int to) {
            int[] e = eps.get(from);
            int[] n = Arrays.copyOf(e, e.length + 1);
            n[e.length] = to;
            eps.set(from, n);
        }

        /** A fragment for rx that ends in out; returns its entry state. Built back to front, so no patching. */
        int build(Rx rx, int out) {
            return switch (rx) {
                case Rx.Chars c -> chars(c, out);
                case Rx.Seq s -> {
                    int at = out;
                    for (int i = s.parts().size() - 1; i >= 0; i--) at = build(s.parts().get(i), at);
                    yield at;
                }
                case Rx.Alt a -> {
                    int entry = state();
                    for (Rx o : a.options()) epsilon(entry, build(o, out));
                    yield entry;
                }
                case Rx.Repeat r -> repeat(r, out);
            };
        }

        private int repeat(Rx.Repeat r, int out) {
            int at = out;
            if (r.max() < 0) {
                // body* : a loop state that either enters the body (which comes back) or leaves
                int loop = state();
                epsilon(loop, out);
                epsilon(loop, build(r.body(), loop));
                at = loop;
            } else {
                for (int i = r.min(); i < r.max(); i++) {
                    int opt = state();
                    epsilon(opt, out);
                    epsilon(opt, build(r.body(), at));
                    at = opt;
                    // each optional copy may also skip straight to the end
                }
            }
            for (int i = 0; i < r.min(); i++) at = build(r.body(), at);
            return at;
        }

        private int chars(Rx.Chars c, int out) {
            int entry = state();
            int[] rs = c.ranges();
            for (int i = 0; i < rs.length; i += 2)
                for (int[] seq : Utf8Ranges.split(rs[i], rs[i + 1])) {
                    // seq: lo0, hi0, lo1, hi1, ... one byte range per position
                    int at = entry;
                    for (int k = 0; k < seq.length; k += 2) {
                        int to = k + 2 == seq.length ? out : state();
                        edge(at, seq[k], seq[k + 1], to);
                        at = to;
                    }
                }
            return entry;
        }
    }

    private static ByteDfa determinize(String param, Nfa nfa, int start, int accept) {
        // byte classes: bytes that no edge tells apart share one column
        BitSet cuts = new BitSet(257);
        for (int[] r : nfa.ranges) for (int i = 0; i < r.length; i += 3) { cuts.set(r[i]); cuts.set(r[i + 1] + 1); }
        int[] classOf = new int[256];
        int classes = 0;
        int[] representative = new int[256];
        for (int b = 0; b < 256; b++) {
            if (b > 0 && cuts.get(b)) classes++;
            classOf[b] = classes;
            representative[classes] = b;
        }
        classes++;

        Map<Key, Integer> ids = new HashMap<>();
        List<int[]> sets = new ArrayList<>();
        List<int[]> rows = new ArrayList<>();
        int[] first = closure(nfa, new int[] {start});
        ids.put(new Key(first), 0);
        sets.add(first);
        ArrayDeque<Integer> work = new ArrayDeque<>();
        work.add(0);
        while (!work.isEmpty()) {
            int d = work.poll();
            int[] set = sets.get(d);
            int[] row = new int[classes];
            for (int k = 0; k < classes; k++) {
                int b = representative[k];
                int[] targets = new int[8];
                int n = 0;
                for (int s : set) {
                    int[] r = nfa.ranges.get(s);
                    for (int i = 0; i < r.length; i += 3)
                        if (b >= r[i] && b <= r[i + 1]) {
                            if (n == targets.length) targets = Arrays.copyOf(targets, n * 2);
                            targets[n++] = r[i + 2];
                        }
                }
                if (n == 0) { row[k] = -1; continue; }
                int[] next = closure(nfa, Arrays.copyOf(targets, n));
                Integer id = ids.get(new Key(next));
                if (id == null) {
                    id = sets.size();
                    if (id >= MAX_STATES)
                        throw new ParameterException(param, param + ": the constraint is too complex (its automaton exceeds " + MAX_STATES + " states); simplify it or bound fewer repetitions");
                    ids.put(new Key(next), id);
                    sets.add(next);
                    work.add(id);
                }
                row[k] = id;
            }
            while (rows.size() <= d) rows.add(null);
            rows.set(d, row);
        }
        int n = sets.size();
        boolean[] accepting = new boolean[n];
        for (int d = 0; d < n; d++) accepting[d] = Arrays.binarySearch(sets.get(d), accept) >= 0;
        return pruned(param, rows, accepting, classOf, classes);
    }

    /** Drops the states from which no accepting state can be reached, renumbering the rest (start stays 0). */
    private static ByteDfa pruned(String param, List<int[]> rows, boolean[] accepting, int[] classOf, int classes) {
        int n = accepting.length;
        List<List<Integer>> reverse = new ArrayList<>();
        for (int i = 0; i < n; i++) reverse.add(new ArrayList<>());
        for (int s = 0; s < n; s++) for (int t : rows.get(s)) if (t >= 0) reverse.get(t).add(s);
        boolean[] live = new boolean[n];
        ArrayDeque<Integer> work = new ArrayDeque<>();
        for (int s = 0; s < n; s++) if (accepting[s]) { live[s] = true; work.add(s); }
        while (!work.isEmpty()) for (int p : reverse.get(work.poll())) if (!live[p]) { live[p] = true; work.add(p); }
        if (!live[0]) throw new ParameterException(param, param + ": the constraint matches no text at all");
        int[] renumber = new int[n];
        int m = 0;
        for (int s = 0; s < n; s++) renumber[s] = live[s] ? m++ : -1;
        int[] next = new int[m * classes];
        boolean[] acc = new boolean[m];
        for (int s = 0; s < n; s++) {
            if (!live[s]) continue;
            int r = renumber[s];
            acc[r] = accepting[s];
            int[] row = rows.get(s);
            for (int k = 0; k < classes; k++) next[r * classes + k] = row[k] < 0 ? -1 : renumber[row[k]];
        }
        return new ByteDfa(classOf, classes, next, acc);
    }

    private static int[] closure(Nfa nfa, int[] from) {
        BitSet seen = new BitSet();
        ArrayDeque<Integer> work = new ArrayDeque<>();
        for (int s : from) if (!seen.get(s)) { seen.set(s); work.add(s); }
        while (!work.isEmpty()) for (int t : nfa.eps.get(work.poll())) if (!seen.get(t)) { seen.set(t); work.add(t); }
        // only states with byte edges (and the accepting one) tell DFA states apart
        return seen.stream().filter(s -> nfa.ranges.get(s).length > 0 || nfa.eps.get(s).length == 0).toArray();
    }

    private record Key(int[] set) {
        @Override public boolean equals(Object o) {
            return o instanceof Key k && Arrays.equals(set, k.set);
        }

        @Override public int hashCode() {
            return Arrays.hashCode(set);
        }
    }
}
