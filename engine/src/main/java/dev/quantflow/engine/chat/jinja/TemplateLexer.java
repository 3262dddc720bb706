package dev.quantflow.engine.chat.jinja;

import java.util.ArrayList;
import java.util.List;

/**
 * Splits template source into text, {{ output }} and {% statement %} pieces ({# comments #}
 * dropped), applying whitespace control as Hugging Face's chat templating configures Jinja:
 * trim_blocks (the newline after a block tag goes), lstrip_blocks (spaces and tabs before a
 * block tag on its own line go), and the explicit {%- -%} / {{- -}} markers.
 */
final class TemplateLexer {
    private final String src;
    private final List<Piece> pieces = new ArrayList<>();

    private TemplateLexer(String src) {
        this.src = src;
    }

    static List<Piece> lex(String src) {
        TemplateLexer l = new TemplateLexer(src);
        l.run();
        return l.pieces;
    }

    private void run() {
        int i = 0;
        boolean stripLeading = false;
        boolean trimNewline = false;
        while (i <= src.length()) {
            int open = nextOpen(i);
            String text = src.substring(i, open < 0 ? src.length() : open);
            if (trimNewline) {
                if (text.startsWith("\r\n")) text = text.substring(2);
                else if (text.startsWith("\n")) text = text.substring(1);
            }
            if (stripLeading) text = text.stripLeading();
            if (open < 0) {
                addText(text, i);
                return;
            }
            char kind = src.charAt(open + 1);
            char marker = open + 2 < src.length() ? src.charAt(open + 2) : ' ';
            if (marker == '-') text = text.stripTrailing();
            else if (kind != '{' && marker != '+') text = lstripBlock(text, i);
            addText(text, i);
            int bodyStart = open + 2 + (marker == '-' || marker == '+' ? 1 : 0);
            String close = kind == '{' ? "}}" : kind == '%' ? "%}" : "#}";
            int end = findClose(bodyStart, close, kind != '#');
            if (end < 0) throw new TemplateError("line " + lineOf(open) + ": unclosed '" + src.substring(open, open + 2) + "'");
            boolean minusClose = end > bodyStart && src.charAt(end - 1) == '-';
            String body = src.substring(bodyStart, minusClose ? end - 1 : end).strip();
            int line = lineOf(open);
            if (kind == '{') pieces.add(new Piece.Output(body, line));
            else if (kind == '%') pieces.add(new Piece.Statement(body, line));
            stripLeading = minusClose;
            trimNewline = kind != '{';
            i = end + 2;
        }
    }

    /** lstrip_blocks: drop spaces/tabs between the start of the line and the block tag. */
    private String lstripBlock(String text, int textStart) {
        int nl = text.lastIndexOf('\n');
        String tail = text.substring(nl + 1);
        if (!tail.chars().allMatch(c -> c == ' ' || c == '\t')) return text;
        if (nl < 0 && textStart != 0 && !endsLine(textStart)) return text;
        return text.substring(0, nl + 1);
    }

    /** True if the character before position p is a newline (the text begins a line). */
    private boolean endsLine(int p) {
        return p > 0 && src.charAt(p - 1) == '\n';
    }

    private void addText(String text, int start) {
        if (!text.isEmpty()) pieces.add(new Piece.Text(text, lineOf(start)));
    }

    private int nextOpen(int from) {
        int i = src.indexOf('{', from);
        while (i >= 0 && i + 1 < src.length()) {
            char c = src.charAt(i + 1);
            if (c == '{' || c == '%' || c == '#') return i;
            i = src.indexOf('{', i + 1);
        }
        return -1;
    }

    /** The closing delimiter, skipping string literals inside expressions. */
    private int findClose(int from, String close, boolean code) {
        char quote = 0;
        for (int i = from; i + 1 < src.length(); i++) {
            char c = src.charAt(i);
            if (quote != 0) {
                if (c == '\\') i++;
                else if (c == quote) quote = 0;
            } else if (code && (c == '\'' || c == '"')) {
                quote = c;
            } else if (c == close.charAt(0) && src.charAt(i + 1) == close.charAt(1)) {
                return i;
            }
        }
        return -1;
    }

    private int lineOf(int pos) {
        int line = 1;
        for (int i = 0; i < pos && i < src.length(); i++) if (src.charAt(i) == '\n') line++;
        return line;
    }
}
