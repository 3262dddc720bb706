package dev.quantflow.engine.tokenizer;

import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * Compiles the regexes tokenizers ship (written for Oniguruma / Rust fancy-regex / PCRE) as
 * java.util.regex patterns. Two differences matter: Java's \s, \d, \w are ASCII-only unless
 * UNICODE_CHARACTER_CLASS is on (the originals are Unicode-aware: \s must match U+00A0, U+3000,
 * ...), and Java names scripts \p{IsHan} where Oniguruma writes \p{Han}. Lookaheads such as
 * \s+(?!\S) and possessive quantifiers behave the same in both engines.
 */
final class TokenizerRegex {
    private static final Pattern SCRIPT_PROPERTY = Pattern.compile("\\\\([pP])\\{(Han|Hiragana|Katakana|Hangul|Latin|Cyrillic|Greek|Arabic|Hebrew|Thai|Devanagari|Common|Inherited)}");

    private TokenizerRegex() {}

    static Pattern compile(String pattern) {
        String translated = SCRIPT_PROPERTY.matcher(pattern).replaceAll(m -> Matcher.quoteReplacement("\\" + m.group(1) + "{Is" + m.group(2) + "}"));
        try {
            return Pattern.compile(translated, Pattern.UNICODE_CHARACTER_CLASS);
        } catch (PatternSyntaxException e) {
            throw new TokenizerException("pre-tokenizer regex not supported by java.util.regex: " + pattern + " (" + e.getDescription() + ")", e);
        }
    }
}
