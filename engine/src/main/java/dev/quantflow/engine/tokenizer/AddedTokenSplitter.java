package dev.quantflow.engine.tokenizer;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Finds added tokens in text, leftmost first and longest at a position (HF's rule), and cuts the
 * text around them. One splitter serves one matching pass: raw text or normalized text.
 */
final class AddedTokenSplitter {
    /** A piece of text (id < 0) or a matched token; start is the piece's offset in the input. */
    record Segment(String text, int id, int start) {
        boolean isToken() {
            return id >= 0;
        }
    }

    private record Candidate(String pattern, AddedToken token) {}

    private final Map<Character, List<Candidate>> byFirstChar = new HashMap<>();

    /** {@code patterns.get(i)} is the string that stands for {@code tokens.get(i)} in the text. */
    AddedTokenSplitter(List<AddedToken> tokens, List<String> patterns) {
        for (int i = 0; i < tokens.size(); i++) {
            String p = patterns.get(i);
            if (p.isEmpty()) continue;
            byFirstChar.computeIfAbsent(p.charAt(0), c -> new ArrayList<>()).add(new Candidate(p, tokens.get(i)));
        }
        for (List<Candidate> list : byFirstChar.values()) list.sort(Comparator.comparingInt((Candidate c) -> c.pattern.length()).reversed());
    }

    boolean isEmpty() {
        return byFirstChar.isEmpty();
    }

    List<Segment> split(String text) {
        List<Segment> out = new ArrayList<>();
        if (byFirstChar.isEmpty()) {
            if (!text.isEmpty()) out.add(new Segment(text, -1, 0));
            return out;
        }
        int textStart = 0; // start of the pending text piece
        int i = 0;
        while (i < text.length()) {
            Candidate match = matchAt(text, i);
            if (match == null) {
                i++;
                continue;
            }
            int matchStart = i, matchEnd = i + match.pattern.length();
            if (match.token.lstrip()) while (matchStart > textStart && Character.isWhitespace(text.charAt(matchStart - 1))) matchStart--;
            if (match.token.rstrip()) while (matchEnd < text.length() && Character.isWhitespace(text.charAt(matchEnd))) matchEnd++;
            if (matchStart > textStart) out.add(new Segment(text.substring(textStart, matchStart), -1, textStart));
            out.add(new Segment(match.pattern, match.token.id(), matchStart));
            textStart = i = matchEnd;
        }
        if (textStart < text.length()) out.add(new Segment(text.substring(textStart), -1, textStart));
        return out;
    }

    private Candidate matchAt(String text, int i) {
        List<Candidate> candidates = byFirstChar.get(text.charAt(i));
        if (candidates == null) return null;
        for (Candidate c : candidates) {
            if (!text.startsWith(c.pattern, i)) continue;
            if (c.token.singleWord() && !(isBoundary(text, i - 1) && isBoundary(text, i + c.pattern.length()))) continue;
            return c;
        }
        return null;
    }

    private static boolean isBoundary(String text, int i) {
        if (i < 0 || i >= text.length()) return true;
        char c = text.charAt(i);
        return !(Character.isLetterOrDigit(c) || c == '_');
    }
}
