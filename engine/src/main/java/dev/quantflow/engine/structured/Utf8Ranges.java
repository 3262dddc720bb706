package dev.quantflow.engine.structured;

import java.util.ArrayList;
import java.util.List;

/**
 * A code point range as UTF-8 byte sequences: each result is one byte range per position
 * (lo0, hi0, lo1, hi1, ...), and together they match exactly the encodings of the range
 * (the method of RE2 and Rust's utf8-ranges: split at encoding-length boundaries, then where the
 * trailing bytes do not span their full 0x80-0xBF).
 */
final class Utf8Ranges {
    private Utf8Ranges() {}

    private static final int[] MAX_OF_LENGTH = {0x7F, 0x7FF, 0xFFFF, 0x10FFFF};

    static List<int[]> split(int lo, int hi) {
        List<int[]> out = new ArrayList<>();
        add(lo, hi, out);
        return out;
    }

    private static void add(int lo, int hi, List<int[]> out) {
        if (lo > hi) return;
        if (lo <= 0xDFFF && hi >= 0xD800) {          // surrogates have no encoding
            add(lo, 0xD7FF, out);
            add(0xE000, hi, out);
            return;
        }
        for (int max : MAX_OF_LENGTH)
            if (lo <= max && hi > max) {
                add(lo, max, out);
                add(max + 1, hi, out);
                return;
            }
        if (hi <= 0x7F) {
            out.add(new int[] {lo, hi});
            return;
        }
        int n = length(lo);
        for (int i = 1; i < n; i++) {
            int m = (1 << (6 * i)) - 1;
            if ((lo & ~m) != (hi & ~m)) {
                if ((lo & m) != 0) {
                    add(lo, lo | m, out);
                    add((lo | m) + 1, hi, out);
                    return;
                }
                if ((hi & m) != m) {
                    add(lo, (hi & ~m) - 1, out);
                    add(hi & ~m, hi, out);
                    return;
                }
            }
        }
        byte[] a = encode(lo), b = encode(hi);
        int[] seq = new int[2 * n];
        for (int i = 0; i < n; i++) { seq[2 * i] = a[i] & 0xFF; seq[2 * i + 1] = b[i] & 0xFF; }
        out.add(seq);
    }

    private static int length(int cp) {
        return cp <= 0x7F ? 1 : cp <= 0x7FF ? 2 : cp <= 0xFFFF ? 3 : 4;
    }

    private static byte[] encode(int cp) {
        return new String(Character.toChars(cp)).getBytes(java.nio.charset.StandardCharsets.UTF_8);
    }
}
