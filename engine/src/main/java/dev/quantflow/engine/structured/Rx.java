package dev.quantflow.engine.structured;

import java.util.ArrayList;
import java.util.List;

/**
 * A regular expression over Unicode code points, as a tree: what the regex parser and the JSON
 * schema compiler produce and {@link ByteDfa} compiles. Character sets are sorted, disjoint,
 * inclusive code point ranges [lo0, hi0, lo1, hi1, ...] without the surrogates.
 */
sealed interface Rx {
    int MAX_CODE_POINT = 0x10FFFF;

    record Chars(int[] ranges) implements Rx {}

    record Seq(List<Rx> parts) implements Rx {}

    record Alt(List<Rx> options) implements Rx {}

    /** max -1: unbounded. */
    record Repeat(Rx body, int min, int max) implements Rx {}

    Rx EMPTY = new Seq(List.of());

    static Rx seq(Rx... parts) {
        return new Seq(List.of(parts));
    }

    static Rx alt(Rx... options) {
        return new Alt(List.of(options));
    }

    static Rx alt(List<Rx> options) {
        return options.size() == 1 ? options.getFirst() : new Alt(List.copyOf(options));
    }

    static Rx optional(Rx body) {
        return new Repeat(body, 0, 1);
    }

    static Rx star(Rx body) {
        return new Repeat(body, 0, -1);
    }

    /** The exact text. */
    static Rx literal(String text) {
        List<Rx> parts = new ArrayList<>();
        text.codePoints().forEach(cp -> parts.add(new Chars(new int[] {cp, cp})));
        return parts.size() == 1 ? parts.getFirst() : new Seq(parts);
    }

    /** A set from inclusive pairs in any order, overlapping or not; surrogates are removed. */
    static Chars chars(int... pairs) {
        List<int[]> rs = new ArrayList<>();
        for (int i = 0; i < pairs.length; i += 2) rs.add(new int[] {pairs[i], pairs[i + 1]});
        return normalized(rs);
    }

    private static Chars normalized(List<int[]> rs) {
        List<int[]> split = new ArrayList<>();
        for (int[] r : rs) {
            int lo = Math.max(0, r[0]), hi = Math.min(MAX_CODE_POINT, r[1]);
            if (lo > hi) continue;
            if (lo < 0xD800 && hi > 0xDFFF) { split.add(new int[] {lo, 0xD7FF}); split.add(new int[] {0xE000, hi}); }
            else if (lo >= 0xD800 && hi <= 0xDFFF) continue;
            else if (lo >= 0xD800 && lo <= 0xDFFF) split.add(new int[] {0xE000, hi});
            else if (hi >= 0xD800 && hi <= 0xDFFF) split.add(new int[] {lo, 0xD7FF});
            else split.add(new int[] {lo, hi});
        }
        split.sort((a, b) -> Integer.compare(a[0], b[0]));
        List<int[]> merged = new ArrayList<>();
        for (int[] r : split) {
            if (!merged.isEmpty() && r[0] <= merged.getLast()[1] + 1) merged.getLast()[1] = Math.max(merged.getLast()[1], r[1]);
            else merged.add(r.clone());
        }
        int[] out = new int[merged.size() * 2];
        for (int i = 0; i < merged.size(); i++) { out[2 * i] = merged.get(i)[0]; out[2 * i + 1] = merged.get(i)[1]; }
        return new Chars(out);
    }

    static Chars union(Chars a, Chars b) {
        int[] both = new int[a.ranges.length + b.ranges.length];
        System.arraycopy(a.ranges, 0, both, 0, a.ranges.length);
        System.arraycopy(b.ranges, 0, both, a.ranges.length, b.ranges.length);
        return chars(both);
    }

    /** Every code point not in the set. */
    static Chars complement(Chars c) {
        List<int[]> out = new ArrayList<>();
        int next = 0;
        for (int i = 0; i < c.ranges.length; i += 2) {
            if (c.ranges[i] > next) out.add(new int[] {next, c.ranges[i] - 1});
            next = c.ranges[i + 1] + 1;
        }
        if (next <= MAX_CODE_POINT) out.add(new int[] {next, MAX_CODE_POINT});
        return normalized(out);
    }

    static Chars minus(Chars a, Chars b) {
        return complement(union(complement(a), b));
    }

    /** The tree with every character set reduced by remove (a pattern embedded in a JSON string must not produce '"', '\' or controls). */
    static Rx without(Rx rx, Chars remove) {
        return switch (rx) {
            case Chars c -> minus(c, remove);
            case Seq s -> new Seq(s.parts().stream().map(p -> without(p, remove)).toList());
            case Alt a -> new Alt(a.options().stream().map(p -> without(p, remove)).toList());
            case Repeat r -> new Repeat(without(r.body(), remove), r.min(), r.max());
        };
    }
}
