package dev.quantflow.engine.structured;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.quantflow.engine.sample.ParameterException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.SplittableRandom;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** The byte automaton accepts exactly what java.util.regex matches as a whole, on random texts (ASCII and multi-byte). */
class ByteDfaTest {
    private static final List<String> REGEXES = List.of(
            "abc", "a|b|cd", "(ab)*c", "a+b?c{2,3}", "[a-c]{1,4}x", "[^a]*", ".{0,3}", "\\d{3}-\\d{2}", "(?:foo|bar)+baz",
            "[α-ω]+", "[^\"\\\\]{0,5}", "(é|日本|x)*", "\\w+@\\w+\\.com", "[\\u0400-\\u04FF]?z", "(a|ab)(c|bcd)", "x{3}", "y{2,}",
            "-?(0|[1-9][0-9]{0,3})(\\.[0-9]{1,2})?", "[\\x00-\\x7F]*", "[😀-🙏]|a");
    private static final String ALPHABET = "abcdxyz019-.@\"\\éαβω日本😀🙏Жz";

    @Test
    void acceptsExactlyWhatJavaRegexMatches() {
        SplittableRandom rnd = new SplittableRandom(7);
        int[] alphabet = ALPHABET.codePoints().toArray();
        for (String regex : REGEXES) {
            ByteDfa dfa = ByteDfa.compile("guided_regex", RegexParser.parse("guided_regex", regex));
            Pattern p = Pattern.compile(regex, Pattern.UNIX_LINES);   // '.' is any character but \n, as in Python
            int matched = 0;
            for (int i = 0; i < 4000; i++) {
                StringBuilder sb = new StringBuilder();
                int len = rnd.nextInt(7);
                for (int k = 0; k < len; k++) sb.appendCodePoint(alphabet[rnd.nextInt(alphabet.length)]);
                String s = sb.toString();
                boolean expected = p.matcher(s).matches();
                if (expected) matched++;
                assertThat(dfa.matches(s)).as("%s on '%s'", regex, s).isEqualTo(expected);
            }
            // also the texts a random walk of the automaton produces must match
            for (int i = 0; i < 200; i++) {
                String s = walk(dfa, rnd);
                if (s != null) assertThat(p.matcher(s).matches()).as("%s generated '%s'", regex, s).isTrue();
            }
        }
    }

    /** A random path from the start to an accepting state; every byte on it keeps acceptance reachable (dead states are pruned). */
    private static String walk(ByteDfa dfa, SplittableRandom rnd) {
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        int s = dfa.start();
        for (int step = 0; step < 40; step++) {
            if (dfa.accepting(s) && (rnd.nextInt(3) == 0 || !dfa.hasExit(s))) return out.toString(StandardCharsets.UTF_8);
            int[] next = new int[256];
            int n = 0;
            for (int b = 0; b < 256; b++) if (dfa.next(s, b) >= 0) next[n++] = b;
            assertThat(n).as("a live state has a way on or accepts").isPositive();
            int b = next[rnd.nextInt(n)];
            out.write(b);
            s = dfa.next(s, b);
        }
        return null;
    }

    @Test
    void refusesWhatAFiniteAutomatonCannotDoNamingIt() {
        assertThatThrownBy(() -> RegexParser.parse("guided_regex", "(a)\\1")).isInstanceOf(ParameterException.class).hasMessageContaining("backreferences");
        assertThatThrownBy(() -> RegexParser.parse("guided_regex", "a(?=b)")).hasMessageContaining("lookaround");
        assertThatThrownBy(() -> RegexParser.parse("guided_regex", "a\\bc")).hasMessageContaining("word boundaries");
        assertThatThrownBy(() -> RegexParser.parse("guided_regex", "(ab")).hasMessageContaining("missing ')'");
        assertThatThrownBy(() -> RegexParser.parse("guided_regex", "a{5000}")).hasMessageContaining("above 1000");
        assertThatThrownBy(() -> ByteDfa.compile("guided_regex", RegexParser.parse("guided_regex", "[^\\x00-\\x{10}]"))).isInstanceOf(ParameterException.class);
        assertThatThrownBy(() -> ByteDfa.compile("guided_regex", RegexParser.parse("guided_regex", "[ab]*a[ab]{20}")))
                .hasMessageContaining("too complex");
    }

    @Test
    void anchorsAtTheEndsAreTheWholeMatchAnyway() {
        ByteDfa dfa = ByteDfa.compile("guided_regex", RegexParser.parse("guided_regex", "^ab+$"));
        assertThat(dfa.matches("abbb")).isTrue();
        assertThat(dfa.matches("xab")).isFalse();
    }
}
