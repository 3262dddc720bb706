package dev.quantflow.engine.tokenizer;

import java.util.Map;
import java.util.PriorityQueue;

/**
 * Score-based SentencePiece BPE as llama.cpp runs GGUF "llama" vocabularies: start from UTF-8
 * characters and repeatedly merge the adjacent pair whose concatenation is a token with the highest
 * score (leftmost on ties). Characters that never became a token are written as byte tokens.
 */
final class SentencePieceScoreModel implements TokenModel {
    private final Map<String, Integer> vocab;
    private final float[] scores;
    private final ByteTokens byteTokens;
    private final int unkId;

    SentencePieceScoreModel(Map<String, Integer> vocab, float[] scores, int unkId) {
        this.vocab = vocab;
        this.scores = scores;
        this.byteTokens = new ByteTokens(vocab);
        this.unkId = unkId;
    }

    private record Bigram(int left, int right, float score, int length) {}

    @Override
    public void encode(String piece, TokenIds out) {
        int n = piece.codePointCount(0, piece.length());
        if (n == 0) return;
        int[] start = new int[n], length = new int[n], prev = new int[n], next = new int[n];
        for (int i = 0, offset = 0; i < n; i++) {
            start[i] = offset;
            length[i] = Character.charCount(piece.codePointAt(offset));
            offset += length[i];
            prev[i] = i - 1;
            next[i] = i + 1 < n ? i + 1 : -1;
        }
        PriorityQueue<Bigram> queue = new PriorityQueue<>((a, b) ->
                a.score != b.score ? Float.compare(b.score, a.score) : Integer.compare(a.left, b.left));
        for (int i = 0; i + 1 < n; i++) offer(queue, piece, start, length, i, i + 1);
        while (!queue.isEmpty()) {
            Bigram top = queue.poll();
            int left = top.left, right = top.right;
            // stale if either side was merged away or grew since the pair was queued
            if (length[left] == 0 || length[right] == 0 || length[left] + length[right] != top.length || next[left] != right) continue;
            length[left] += length[right];
            length[right] = 0;
            next[left] = next[right];
            if (next[left] >= 0) prev[next[left]] = left;
            if (prev[left] >= 0) offer(queue, piece, start, length, prev[left], left);
            if (next[left] >= 0) offer(queue, piece, start, length, left, next[left]);
        }
        for (int i = 0; i >= 0; i = next[i]) {
            String text = piece.substring(start[i], start[i] + length[i]);
            Integer id = vocab.get(text);
            if (id != null) out.add(id);
            else if (!byteTokens.append(text, out) && unkId >= 0) out.add(unkId);
        }
    }

    private void offer(PriorityQueue<Bigram> queue, String piece, int[] start, int[] length, int left, int right) {
        int total = length[left] + length[right];
        Integer id = vocab.get(piece.substring(start[left], start[left] + total));
        if (id != null) queue.add(new Bigram(left, right, scores[id], total));
    }
}
