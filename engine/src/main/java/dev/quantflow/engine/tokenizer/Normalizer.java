package dev.quantflow.engine.tokenizer;

import java.text.Normalizer.Form;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Text normalization applied before pre-tokenization (the tokenizer.json "normalizer"). */
sealed interface Normalizer {
    String normalize(String text);

    Normalizer IDENTITY = new Sequence(List.of());

    record Sequence(List<Normalizer> steps) implements Normalizer {
        @Override
        public String normalize(String text) {
            for (Normalizer n : steps) text = n.normalize(text);
            return text;
        }
    }

    /** Prepends only to non-empty text, as HF does (so "" stays "" and gets no "▁"). */
    record Prepend(String prefix) implements Normalizer {
        @Override
        public String normalize(String text) {
            return text.isEmpty() ? text : prefix + text;
        }
    }

    record ReplaceLiteral(String target, String replacement) implements Normalizer {
        @Override
        public String normalize(String text) {
            return text.replace(target, replacement);
        }
    }

    record ReplaceRegex(Pattern pattern, String replacement) implements Normalizer {
        @Override
        public String normalize(String text) {
            return pattern.matcher(text).replaceAll(Matcher.quoteReplacement(replacement));
        }
    }

    record Unicode(Form form) implements Normalizer {
        @Override
        public String normalize(String text) {
            return java.text.Normalizer.normalize(text, form);
        }
    }

    record Lowercase() implements Normalizer {
        @Override
        public String normalize(String text) {
            return text.toLowerCase(Locale.ROOT);
        }
    }

    record Strip(boolean left, boolean right) implements Normalizer {
        @Override
        public String normalize(String text) {
            if (left) text = text.stripLeading();
            if (right) text = text.stripTrailing();
            return text;
        }
    }
}
