package dev.quantflow.engine.chat.jinja;

import java.util.Collection;
import java.util.Map;

/** The tojson filter: Python's json.dumps(value, ensure_ascii=False, indent=indent) with its default separators. */
final class Json {
    private Json() {}

    static String write(Object v, int indent) {
        StringBuilder sb = new StringBuilder();
        write(sb, v, indent, 0);
        return sb.toString();
    }

    private static void write(StringBuilder sb, Object v, int indent, int depth) {
        switch (v) {
            case null -> sb.append("null");
            case Undefined u -> sb.append("null");
            case Boolean b -> sb.append(b);
            case Long l -> sb.append(l);
            case Double d -> sb.append(Values.pyFloat(d).replace("inf", "Infinity").replace("nan", "NaN"));
            case String s -> string(sb, s);
            case Map<?, ?> m -> {
                sb.append('{');
                int i = 0;
                for (Map.Entry<?, ?> e : m.entrySet()) {
                    sb.append(i++ > 0 ? "," : "");
                    newline(sb, indent, depth + 1, i == 1);
                    string(sb, Values.str(e.getKey()));
                    sb.append(": ");
                    write(sb, e.getValue(), indent, depth + 1);
                }
                if (i > 0 && indent >= 0) newline(sb, indent, depth, false);
                sb.append('}');
            }
            case Collection<?> c -> {
                sb.append('[');
                int i = 0;
                for (Object o : c) {
                    sb.append(i++ > 0 ? "," : "");
                    newline(sb, indent, depth + 1, i == 1);
                    write(sb, o, indent, depth + 1);
                }
                if (i > 0 && indent >= 0) newline(sb, indent, depth, false);
                sb.append(']');
            }
            default -> string(sb, Values.str(v));
        }
    }

    /** Without indent Python separates items with ", "; with indent, each item goes on its own line. */
    private static void newline(StringBuilder sb, int indent, int depth, boolean first) {
        if (indent < 0) {
            if (!first) sb.append(' ');
            return;
        }
        sb.append('\n').append(" ".repeat(indent * depth));
    }

    private static void string(StringBuilder sb, String s) {
        sb.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '\n' -> sb.append("\\n");
                case '\r' -> sb.append("\\r");
                case '\t' -> sb.append("\\t");
                case '\b' -> sb.append("\\b");
                case '\f' -> sb.append("\\f");
                default -> {
                    if (c < 0x20) sb.append(String.format("\\u%04x", (int) c));
                    else sb.append(c);
                }
            }
        }
        sb.append('"');
    }
}
