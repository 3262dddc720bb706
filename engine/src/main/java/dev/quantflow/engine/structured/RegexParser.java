package dev.quantflow.engine.structured;

import dev.quantflow.engine.sample.ParameterException;
import java.util.ArrayList;
import java.util.List;

/**
 * Parses the regular-expression subset that a finite automaton can decode: literals and escapes,
 * classes ([a-z], [^"], \d \w \s and their negations, backslash-u XXXX, \xHH), '.', groups ((...), (?:...)),
 * alternation and the quantifiers * + ? {n} {n,} {n,m} (a lazy '?' after one changes nothing
 * here). The whole text must match: a leading '^' and a trailing '$' are accepted and ignored.
 * Backreferences, lookaround and other anchors are refused, naming the construct.
 */
final class RegexParser {
    /** Bounded repetitions are unrolled; this keeps the automaton's size in check. */
    static final int MAX_REPEAT = 1000;

    private static final Rx.Chars DIGIT = Rx.chars('0', '9');
    private static final Rx.Chars WORD = Rx.chars('0', '9', 'a', 'z', 'A', 'Z', '_', '_');
    private static final Rx.Chars SPACE = Rx.chars(' ', ' ', '\t', '\r', 0x0B, 0x0C);
    private static final Rx.Chars NOT_NEWLINE = Rx.complement(Rx.chars('\n', '\n'));

    private final String param;
    private final int[] cps;
    private int pos;

    private RegexParser(String param, String regex) {
        this.param = param;
        this.cps = regex.codePoints().toArray();
    }

    static Rx parse(String param, String regex) {
        RegexParser p = new RegexParser(param, regex);
        int end = p.cps.length;
        if (end > 0 && p.cps[0] == '^') p.pos = 1;
        if (end > p.pos && p.cps[end - 1] == '$' && (end < 2 || p.cps[end - 2] != '\\')) p.trimmedEnd = end - 1;
        else p.trimmedEnd = end;
        Rx rx = p.alternation();
        if (p.pos < p.trimmedEnd) throw p.error("unbalanced ')'");
        return rx;
    }

    private int trimmedEnd;

    private boolean more() {
        return pos < trimmedEnd;
    }

    private int peek() {
        return cps[pos];
    }

    private ParameterException error(String what) {
        return new ParameterException(param, param + ": " + what + " at position " + pos + " of the regular expression");
    }

    private Rx alternation() {
        List<Rx> options = new ArrayList<>();
        options.add(sequence());
        while (more() && peek() == '|') {
            pos++;
            options.add(sequence());
        }
        return Rx.alt(options);
    }

    private Rx sequence() {
        List<Rx> parts = new ArrayList<>();
        while (more() && peek() != '|' && peek() != ')') parts.add(quantified(atom()));
        return parts.size() == 1 ? parts.getFirst() : new Rx.Seq(parts);
    }

    private Rx quantified(Rx atom) {
        while (more()) {
            int c = peek();
            int min, max;
            if (c == '*') { min = 0; max = -1; pos++; }
            else if (c == '+') { min = 1; max = -1; pos++; }
            else if (c == '?') { min = 0; max = 1; pos++; }
            else if (c == '{' && isCount()) {
                pos++;
                min = number();
                max = min;
                if (peek() == ',') {
                    pos++;
                    max = peek() == '}' ? -1 : number();
                }
                pos++;   // '}'
                if (max >= 0 && max < min) throw error("{" + min + "," + max + "} has max < min");
                if (min > MAX_REPEAT || max > MAX_REPEAT) throw error("repetition counts above " + MAX_REPEAT + " are not supported");
            } else break;
            if (more() && peek() == '?') pos++;       // lazy: the same language
            if (more() && peek() == '+') throw error("possessive quantifiers are not supported");
            atom = new Rx.Repeat(atom, min, max);
        }
        return atom;
    }

    /** Whether a '{' here starts {n}, {n,} or {n,m} (otherwise it is a literal brace). */
    private boolean isCount() {
        int i = pos + 1;
        int digits = 0;
        while (i < trimmedEnd && Character.isDigit(cps[i])) { i++; digits++; }
        if (digits == 0) return false;
        if (i < trimmedEnd && cps[i] == '}') return true;
        if (i >= trimmedEnd || cps[i] != ',') return false;
        i++;
        while (i < trimmedEnd && Character.isDigit(cps[i])) i++;
        return i < trimmedEnd && cps[i] == '}';
    }

    private int number() {
        long v = 0;
        while (more() && Character.isDigit(peek())) {
            v = v * 10 + (cps[pos++] - '0');
            if (v > Integer.MAX_VALUE) throw error("repetition count too large");
        }
        return (int) v;
    }

    private Rx atom() {
        int c = cps[pos++];
        switch (c) {
            case '(' -> {
                if (more() && peek() == '?') {
                    pos++;
                    if (more() && peek() == ':') pos++;
                    else if (more() && (peek() == '=' || peek() == '!' || peek() == '<')) throw error("lookaround is not supported");
                    else throw error("group flags are not supported");
                }
                Rx inner = alternation();
                if (!more() || peek() != ')') throw error("missing ')'");
                pos++;
                return inner;
            }
            case '[' -> { return charClass(); }
            case '.' -> { return NOT_NEWLINE; }
            case '\\' -> { return escape(false); }
            case '*', '+', '?' -> throw error("nothing to repeat before '" + Character.toString(c) + "'");
            case '^', '$' -> throw error("anchors inside the expression are not supported (the whole text always matches)");
            default -> { return Rx.chars(c, c); }
        }
    }

    private Rx.Chars charClass() {
        boolean negate = more() && peek() == '^';
        if (negate) pos++;
        Rx.Chars set = Rx.chars();
        boolean first = true;
        while (true) {
            if (!more()) throw error("missing ']'");
            int c = cps[pos];
            if (c == ']' && !first) { pos++; break; }
            first = false;
            Rx.Chars item;
            int lo;
            pos++;
            if (c == '\\') {
                Rx esc = escape(true);
                if (!(esc instanceof Rx.Chars ch)) throw error("unsupported escape in a class");
                item = ch;
                lo = ch.ranges().length == 2 && ch.ranges()[0] == ch.ranges()[1] ? ch.ranges()[0] : -1;
            } else {
                if (c == '[' && more() && peek() == ':') throw error("POSIX classes ([:alpha:]) are not supported");
                item = Rx.chars(c, c);
                lo = c;
            }
            if (lo >= 0 && pos + 1 < trimmedEnd && cps[pos] == '-' && cps[pos + 1] != ']') {
                pos++;
                int hi = cps[pos++];
                if (hi == '\\') {
                    Rx esc = escape(true);
                    if (!(esc instanceof Rx.Chars ch) || ch.ranges().length != 2 || ch.ranges()[0] != ch.ranges()[1]) throw error("bad range end");
                    hi = ch.ranges()[0];
                }
                if (hi < lo) throw error("range out of order");
                item = Rx.chars(lo, hi);
            }
            set = Rx.union(set, item);
        }
        return negate ? Rx.complement(set) : set;
    }

    private Rx escape(boolean inClass) {
        if (pos >= cps.length) throw error("trailing '\\'");
        int c = cps[pos++];
        return switch (c) {
            case 'd' -> DIGIT;
            case 'D' -> Rx.complement(DIGIT);
            case 'w' -> WORD;
            case 'W' -> Rx.complement(WORD);
            case 's' -> Rx.union(SPACE, Rx.chars('\n', '\n'));
            case 'S' -> Rx.complement(Rx.union(SPACE, Rx.chars('\n', '\n')));
            case 'n' -> Rx.chars('\n', '\n');
            case 't' -> Rx.chars('\t', '\t');
            case 'r' -> Rx.chars('\r', '\r');
            case 'f' -> Rx.chars(0x0C, 0x0C);
            case 'v' -> Rx.chars(0x0B, 0x0B);
            case '0' -> Rx.chars(0, 0);
            case 'x' -> hex(2);
            case 'u' -> hex(4);
            case 'b' -> {
                if (inClass) yield Rx.chars(8, 8);
                throw error("word boundaries (\\b) are not supported");
            }
            case 'B', 'A', 'z', 'Z', 'G' -> throw error("anchor \\" + Character.toString(c) + " is not supported");
            case 'p', 'P' -> throw error("Unicode property classes (\\p{...}) are not supported");
            case 'k' -> throw error("named backreferences are not supported");
            default -> {
                if (c >= '1' && c <= '9') throw error("backreferences are not supported");
                if (Character.isLetterOrDigit(c)) throw error("unknown escape \\" + Character.toString(c));
                yield Rx.chars(c, c);
            }
        };
    }

    private Rx.Chars hex(int digits) {
        int v = 0;
        for (int i = 0; i < digits; i++) {
            if (pos >= cps.length || Character.digit(cps[pos], 16) < 0) throw error("expected " + digits + " hex digits");
            v = v * 16 + Character.digit(cps[pos++], 16);
        }
        return Rx.chars(v, v);
    }
}
