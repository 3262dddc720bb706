package dev.quantflow.engine.tokenizer;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Cuts normalized text into the pieces ("words") that BPE merges within; merges never cross a
 * piece boundary. Mirrors the tokenizer.json "pre_tokenizer" types real decoder models use.
 */
sealed interface PreTokenizer {
    /**
     * Appends the pieces of {@code text} to {@code out}; {@code atTextStart} says whether this text
     * begins the user's input (Metaspace's prepend_scheme "first" looks at it).
     */
    void split(String text, boolean atTextStart, List<String> out);

    PreTokenizer NONE = new Sequence(List.of());

    /** GPT-2's pre-tokenizer regex (HF ByteLevel with use_regex, llama.cpp "gpt-2"). */
    String GPT2_REGEX = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

    record Sequence(List<PreTokenizer> steps) implements PreTokenizer {
        @Override
        public void split(String text, boolean atTextStart, List<String> out) {
            List<String> pieces = new ArrayList<>();
            pieces.add(text);
            for (PreTokenizer step : steps) {
                List<String> next = new ArrayList<>();
                for (int i = 0; i < pieces.size(); i++) step.split(pieces.get(i), atTextStart && i == 0, next);
                pieces = next;
            }
            for (String p : pieces) if (!p.isEmpty()) out.add(p);
        }
    }

    record Split(Pattern pattern, SplitBehavior behavior, boolean invert) implements PreTokenizer {
        @Override
        public void split(String text, boolean atTextStart, List<String> out) {
            // alternate gaps and matches in order, then apply the behaviour (as HF's Split does)
            List<String> parts = new ArrayList<>();
            List<Boolean> isMatch = new ArrayList<>();
            Matcher m = pattern.matcher(text);
            int last = 0;
            while (m.find()) {
                if (m.end() == m.start()) continue;
                if (m.start() > last) {
                    parts.add(text.substring(last, m.start()));
                    isMatch.add(invert);
                }
                parts.add(m.group());
                isMatch.add(!invert);
                last = m.end();
            }
            if (last < text.length()) {
                parts.add(text.substring(last));
                isMatch.add(invert);
            }
            switch (behavior) {
                case ISOLATED -> out.addAll(parts);
                case REMOVED -> {
                    for (int i = 0; i < parts.size(); i++) if (!isMatch.get(i)) out.add(parts.get(i));
                }
                case MERGED_WITH_PREVIOUS -> {
                    List<String> acc = new ArrayList<>();
                    boolean previousMatch = false;
                    for (int i = 0; i < parts.size(); i++) {
                        if (isMatch.get(i) && !previousMatch && !acc.isEmpty()) acc.set(acc.size() - 1, acc.getLast() + parts.get(i));
                        else acc.add(parts.get(i));
                        previousMatch = isMatch.get(i);
                    }
                    out.addAll(acc);
                }
                case MERGED_WITH_NEXT -> {
                    List<String> acc = new ArrayList<>();
                    boolean nextMatch = false;
                    for (int i = parts.size() - 1; i >= 0; i--) {
                        if (isMatch.get(i) && !nextMatch && !acc.isEmpty()) acc.set(acc.size() - 1, parts.get(i) + acc.getLast());
                        else acc.add(parts.get(i));
                        nextMatch = isMatch.get(i);
                    }
                    out.addAll(acc.reversed());
                }
                case CONTIGUOUS -> {
                    List<String> acc = new ArrayList<>();
                    Boolean previous = null;
                    for (int i = 0; i < parts.size(); i++) {
                        if (isMatch.get(i).equals(previous)) acc.set(acc.size() - 1, acc.getLast() + parts.get(i));
                        else acc.add(parts.get(i));
                        previous = isMatch.get(i);
                    }
                    out.addAll(acc);
                }
            }
        }
    }

    /**
     * Byte-level: optionally a leading space, optionally GPT-2's regex split, then every piece's
     * UTF-8 bytes written in the byte-level alphabet.
     */
    record ByteLevel(boolean addPrefixSpace, boolean useRegex) implements PreTokenizer {
        private static final Split GPT2_SPLIT = new Split(TokenizerRegex.compile(GPT2_REGEX), SplitBehavior.ISOLATED, false);

        @Override
        public void split(String text, boolean atTextStart, List<String> out) {
            if (addPrefixSpace && !text.startsWith(" ")) text = " " + text;
            List<String> pieces = new ArrayList<>();
            if (useRegex) GPT2_SPLIT.split(text, atTextStart, pieces);
            else pieces.add(text);
            for (String p : pieces) out.add(ByteLevelAlphabet.encode(p));
        }
    }

    /** SentencePiece's space marker: spaces become "▁", a "▁" is prepended, optionally split before each "▁". */
    record Metaspace(String replacement, PrependScheme prependScheme, boolean splitOnReplacement) implements PreTokenizer {
        enum PrependScheme { ALWAYS, FIRST, NEVER }

        @Override
        public void split(String text, boolean atTextStart, List<String> out) {
            text = text.replace(" ", replacement);
            boolean prepend = prependScheme == PrependScheme.ALWAYS || (prependScheme == PrependScheme.FIRST && atTextStart);
            if (prepend && !text.startsWith(replacement)) text = replacement + text;
            if (!splitOnReplacement) {
                out.add(text);
                return;
            }
            int start = 0;
            for (int i = text.indexOf(replacement, 1); i >= 0; i = text.indexOf(replacement, i + 1)) {
                if (i > start) {
                    out.add(text.substring(start, i));
                    start = i;
                }
            }
            if (start < text.length()) out.add(text.substring(start));
        }
    }
}
