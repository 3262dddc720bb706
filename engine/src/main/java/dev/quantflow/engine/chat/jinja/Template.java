package dev.quantflow.engine.chat.jinja;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

/**
 * A compiled template of the Jinja subset that chat templates are written in: {{ }}, {% if/elif/
 * else %}, {% for %} with loop.*, {% set %} (also namespace attributes and blocks), filters, tests,
 * the usual operators, string and dict methods, raise_exception. Whitespace behaves as in Hugging
 * Face's chat templating (trim_blocks, lstrip_blocks). Immutable; render is thread-safe.
 */
public final class Template {
    private final List<Node> nodes;

    private Template(List<Node> nodes) {
        this.nodes = nodes;
    }

    /** Parses the source; throws {@link TemplateError} naming the line of a syntax error. */
    public static Template compile(String source) {
        return new Template(Parser.parse(source));
    }

    /**
     * Renders with these variables: Strings, Booleans, Longs/Integers, Doubles, nulls, Lists and
     * Maps of them. Throws {@link TemplateError} (raisedByTemplate() when the template refused).
     */
    public String render(Map<String, Object> variables) {
        return new Interpreter(normalize(variables)).render(nodes);
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> normalize(Map<String, Object> variables) {
        Map<String, Object> out = new LinkedHashMap<>();
        variables.forEach((k, v) -> out.put(k, value(v)));
        return out;
    }

    private static Object value(Object v) {
        return switch (v) {
            case Integer i -> (long) i;
            case Float f -> (double) f;
            case List<?> l -> l.stream().map(Template::value).collect(Collectors.toCollection(ArrayList::new));
            case Map<?, ?> m -> {
                Map<Object, Object> out = new LinkedHashMap<>();
                m.forEach((k, x) -> out.put(k, value(x)));
                yield out;
            }
            case null, default -> v;
        };
    }
}
