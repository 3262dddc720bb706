package dev.quantflow.engine.tokenizer;

import java.util.Arrays;

/**
 * BPE merges keyed by the (left id, right id) pair, in an open-addressing table of primitive longs:
 * the merge loop looks pairs up millions of times on large texts and boxing would dominate.
 * Values pack (rank << 32 | merged id).
 */
final class MergeTable {
    static final long ABSENT = -1L;
    private static final long EMPTY_KEY = -1L; // ids are non-negative, so (-1, -1) never occurs

    private final long[] keys;
    private final long[] values;
    private final int mask;
    private int size;

    MergeTable(int expected) {
        int capacity = Integer.highestOneBit(Math.max(4, expected * 2 - 1)) << 1;
        keys = new long[capacity];
        values = new long[capacity];
        Arrays.fill(keys, EMPTY_KEY);
        mask = capacity - 1;
    }

    static long pair(int left, int right) {
        return ((long) left << 32) | (right & 0xFFFFFFFFL);
    }

    private int slot(long key) {
        long h = key * 0x9E3779B97F4A7C15L;
        int i = (int) (h ^ (h >>> 32)) & mask;
        while (keys[i] != EMPTY_KEY && keys[i] != key) i = (i + 1) & mask;
        return i;
    }

    /** Keeps the first (lowest-rank) merge for a pair. */
    void putIfAbsent(int left, int right, int rank, int mergedId) {
        long key = pair(left, right);
        int i = slot(key);
        if (keys[i] == key) return;
        if (size + 1 > keys.length / 2) throw new IllegalStateException("merge table over capacity");
        keys[i] = key;
        values[i] = ((long) rank << 32) | mergedId;
        size++;
    }

    /** (rank << 32 | merged id), or {@link #ABSENT}. */
    long get(int left, int right) {
        long key = pair(left, right);
        int i = slot(key);
        return keys[i] == key ? values[i] : ABSENT;
    }
}
