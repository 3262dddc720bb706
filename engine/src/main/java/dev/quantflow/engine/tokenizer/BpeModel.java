package dev.quantflow.engine.tokenizer;

import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Rank-based BPE as in HF tokenizers: start from single characters, repeatedly merge the adjacent
 * pair with the lowest merge rank (leftmost first on ties) until no pair has a merge. Symbols live
 * in a linked list over arrays and candidate pairs in a binary heap keyed (rank, position), so a
 * piece of n characters costs O(n log n) even when it is a whole paragraph (SentencePiece-style
 * vocabularies have no pre-tokenizer).
 */
final class BpeModel implements TokenModel {
    private static final int MAX_CACHED_PIECE = 256;
    private static final int MAX_CACHE_ENTRIES = 200_000;

    private final Map<String, Integer> vocab;
    private final MergeTable merges;
    private final ByteTokens byteFallback; // null: no byte fallback
    private final int unkId; // -1: characters outside the vocabulary are dropped, as HF does
    private final boolean fuseUnk;
    private final boolean ignoreMerges;
    private final Map<String, int[]> cache = new ConcurrentHashMap<>();

    /** {@code merges} in rank order, each a pair of token strings; pairs not in the vocab are skipped. */
    BpeModel(Map<String, Integer> vocab, List<String[]> merges, boolean byteFallback, int unkId, boolean fuseUnk, boolean ignoreMerges) {
        this.vocab = vocab;
        this.merges = new MergeTable(merges.size());
        for (int rank = 0; rank < merges.size(); rank++) {
            String[] pair = merges.get(rank);
            Integer left = vocab.get(pair[0]), right = vocab.get(pair[1]), merged = vocab.get(pair[0] + pair[1]);
            if (left == null || right == null || merged == null) continue;
            this.merges.putIfAbsent(left, right, rank, merged);
        }
        this.byteFallback = byteFallback ? new ByteTokens(vocab) : null;
        this.unkId = unkId;
        this.fuseUnk = fuseUnk;
        this.ignoreMerges = ignoreMerges;
    }

    @Override
    public void encode(String piece, TokenIds out) {
        if (ignoreMerges) {
            Integer whole = vocab.get(piece);
            if (whole != null) {
                out.add(whole);
                return;
            }
        }
        int[] ids = cache.get(piece);
        if (ids == null) {
            ids = merge(piece);
            if (piece.length() <= MAX_CACHED_PIECE && cache.size() < MAX_CACHE_ENTRIES) cache.put(piece, ids);
        }
        out.addAll(ids);
    }

    private int[] merge(String piece) {
        TokenIds initial = initialSymbols(piece);
        int[] symbol = initial.toArray();
        int n = symbol.length;
        if (n < 2) return symbol;
        int[] prev = new int[n], next = new int[n];
        for (int i = 0; i < n; i++) {
            prev[i] = i - 1;
            next[i] = i + 1 < n ? i + 1 : -1;
        }
        LongHeap heap = new LongHeap(n);
        for (int i = 0; i + 1 < n; i++) pushPair(heap, symbol, i, i + 1);
        while (!heap.isEmpty()) {
            long top = heap.pop();
            int rank = (int) (top >>> 32), pos = (int) top;
            int right = next[pos];
            if (symbol[pos] < 0 || right < 0) continue;
            long merge = merges.get(symbol[pos], symbol[right]);
            if (merge == MergeTable.ABSENT || (int) (merge >>> 32) != rank) continue; // stale: a neighbour changed
            symbol[pos] = (int) merge;
            symbol[right] = -1;
            next[pos] = next[right];
            if (next[pos] >= 0) prev[next[pos]] = pos;
            if (prev[pos] >= 0) pushPair(heap, symbol, prev[pos], pos);
            if (next[pos] >= 0) pushPair(heap, symbol, pos, next[pos]);
        }
        TokenIds out = new TokenIds();
        for (int i = 0; i >= 0; i = next[i]) out.add(symbol[i]);
        return out.toArray();
    }

    private void pushPair(LongHeap heap, int[] symbol, int left, int right) {
        long merge = merges.get(symbol[left], symbol[right]);
        if (merge != MergeTable.ABSENT) heap.push((merge & 0xFFFFFFFF00000000L) | left);
    }

    private TokenIds initialSymbols(String piece) {
        TokenIds out = new TokenIds();
        boolean previousUnk = false;
        for (int i = 0; i < piece.length(); ) {
            int cp = piece.codePointAt(i);
            String ch = piece.substring(i, i + Character.charCount(cp));
            i += ch.length();
            Integer id = vocab.get(ch);
            if (id != null) {
                out.add(id);
                previousUnk = false;
            } else if (byteFallback != null && byteFallback.append(ch, out)) {
                previousUnk = false;
            } else if (unkId >= 0) {
                if (!(fuseUnk && previousUnk)) out.add(unkId);
                previousUnk = true;
            }
        }
        return out;
    }

    /** Min-heap of longs; keys are (rank << 32 | position) so ties go to the leftmost pair. */
    private static final class LongHeap {
        private long[] heap;
        private int size;

        LongHeap(int capacity) {
            heap = new long[Math.max(4, capacity)];
        }

        boolean isEmpty() {
            return size == 0;
        }

        void push(long v) {
            if (size == heap.length) heap = Arrays.copyOf(heap, size * 2);
            int i = size++;
            while (i > 0) {
                int parent = (i - 1) >>> 1;
                if (heap[parent] <= v) break;
                heap[i] = heap[parent];
                i = parent;
            }
            heap[i] = v;
        }

        long pop() {
            long top = heap[0];
            long last = heap[--size];
            int i = 0;
            while (true) {
                int child = 2 * i + 1;
                if (child >= size) break;
                if (child + 1 < size && heap[child + 1] < heap[child]) child++;
                if (heap[child] >= last) break;
                heap[i] = heap[child];
                i = child;
            }
            heap[i] = last;
            return top;
        }
    }
}
