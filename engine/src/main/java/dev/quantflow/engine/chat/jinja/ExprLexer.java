package dev.quantflow.engine.chat.jinja;

import java.util.ArrayList;
import java.util.List;

/** Tokenizes the inside of {{ }} and {% %}: names, 'strings' with Python escapes, numbers, operators. */
final class ExprLexer {
    private static final List<String> TWO_CHAR_OPS = List.of("==", "!=", "<=", ">=", "//", "**");
    private static final String ONE_CHAR_OPS = "+-*/%~<>()[]{},.:|=";

    private ExprLexer() {}

    static List<Token> lex(String s, int line) {
        List<Token> out = new ArrayList<>();
        int i = 0;
        while (i < s.length()) {
            char c = s.charAt(i);
            if (Character.isWhitespace(c)) {
                i++;
            } else if (Character.isLetter(c) || c == '_') {
                int j = i;
                while (j < s.length() && (Character.isLetterOrDigit(s.charAt(j)) || s.charAt(j) == '_')) j++;
                out.add(new Token(Token.Kind.NAME, s.substring(i, j), null));
                i = j;
            } else if (Character.isDigit(c)) {
                int j = i;
                while (j < s.length() && (Character.isDigit(s.charAt(j)) || s.charAt(j) == '_')) j++;
                boolean isFloat = j + 1 < s.length() && s.charAt(j) == '.' && Character.isDigit(s.charAt(j + 1));
                if (isFloat) {
                    j++;
                    while (j < s.length() && Character.isDigit(s.charAt(j))) j++;
                }
                String num = s.substring(i, j).replace("_", "");
                out.add(isFloat ? new Token(Token.Kind.FLOAT, num, Double.parseDouble(num)) : new Token(Token.Kind.INT, num, Long.parseLong(num)));
                i = j;
            } else if (c == '\'' || c == '"') {
                StringBuilder sb = new StringBuilder();
                int j = i + 1;
                while (true) {
                    if (j >= s.length()) throw new TemplateError("line " + line + ": unterminated string");
                    char d = s.charAt(j);
                    if (d == c) break;
                    if (d == '\\' && j + 1 < s.length()) {
                        j++;
                        char e = s.charAt(j);
                        switch (e) {
                            case 'n' -> sb.append('\n');
                            case 't' -> sb.append('\t');
                            case 'r' -> sb.append('\r');
                            case '0' -> sb.append('\0');
                            case 'u' -> {
                                if (j + 4 >= s.length()) throw new TemplateError("line " + line + ": bad \\u escape");
                                sb.append((char) Integer.parseInt(s.substring(j + 1, j + 5), 16));
                                j += 4;
                            }
                            case '\\', '\'', '"' -> sb.append(e);
                            default -> sb.append('\\').append(e);
                        }
                    } else {
                        sb.append(d);
                    }
                    j++;
                }
                out.add(new Token(Token.Kind.STRING, s.substring(i, j + 1), sb.toString()));
                i = j + 1;
            } else if (i + 1 < s.length() && TWO_CHAR_OPS.contains(s.substring(i, i + 2))) {
                out.add(new Token(Token.Kind.OP, s.substring(i, i + 2), null));
                i += 2;
            } else if (ONE_CHAR_OPS.indexOf(c) >= 0) {
                out.add(new Token(Token.Kind.OP, String.valueOf(c), null));
                i++;
            } else {
                throw new TemplateError("line " + line + ": unexpected character '" + c + "'");
            }
        }
        out.add(new Token(Token.Kind.END, "", null));
        return out;
    }
}
