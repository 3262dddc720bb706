package dev.quantflow.engine.chat.jinja;

import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/** Python semantics of template values: truth, str(), equality, ordering, arithmetic. */
final class Values {
    private Values() {}

    static boolean truthy(Object v) {
        return switch (v) {
            case null -> false;
            case Undefined u -> false;
            case Boolean b -> b;
            case Long l -> l != 0;
            case Double d -> d != 0;
            case String s -> !s.isEmpty();
            case Collection<?> c -> !c.isEmpty();
            case Map<?, ?> m -> !m.isEmpty();
            default -> true;
        };
    }

    /** Python's str(). */
    static String str(Object v) {
        return switch (v) {
            case null -> "None";
            case String s -> s;
            case Boolean b -> b ? "True" : "False";
            case Double d -> pyFloat(d);
            case Collection<?> c -> repr(c);
            case Map<?, ?> m -> repr(m);
            default -> v.toString();
        };
    }

    /** Python's repr(), used inside containers. */
    static String repr(Object v) {
        return switch (v) {
            case String s -> "'" + s.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n") + "'";
            case Collection<?> c -> {
                StringBuilder sb = new StringBuilder("[");
                for (Object o : c) sb.append(sb.length() > 1 ? ", " : "").append(repr(o));
                yield sb.append(']').toString();
            }
            case Map<?, ?> m -> {
                StringBuilder sb = new StringBuilder("{");
                for (Map.Entry<?, ?> e : m.entrySet()) sb.append(sb.length() > 1 ? ", " : "").append(repr(e.getKey())).append(": ").append(repr(e.getValue()));
                yield sb.append('}').toString();
            }
            case null, default -> str(v);
        };
    }

    static String pyFloat(double d) {
        if (Double.isNaN(d)) return "nan";
        if (Double.isInfinite(d)) return d > 0 ? "inf" : "-inf";
        if (d == Math.rint(d) && Math.abs(d) < 1e16) return (long) d + ".0";
        return Double.toString(d);
    }

    static boolean equal(Object a, Object b) {
        if (a instanceof Number x && b instanceof Number y) return x.doubleValue() == y.doubleValue();
        if (a instanceof List<?> x && b instanceof List<?> y) {
            if (x.size() != y.size()) return false;
            for (int i = 0; i < x.size(); i++) if (!equal(x.get(i), y.get(i))) return false;
            return true;
        }
        return Objects.equals(a, b);
    }

    static int compare(Object a, Object b) {
        if (a instanceof Number x && b instanceof Number y) return Double.compare(x.doubleValue(), y.doubleValue());
        if (a instanceof String x && b instanceof String y) return x.compareTo(y);
        throw new TemplateError("cannot compare " + typeName(a) + " with " + typeName(b));
    }

    static boolean contains(Object container, Object item) {
        return switch (container) {
            case String s when item instanceof String t -> s.contains(t);
            case Collection<?> c -> c.stream().anyMatch(x -> equal(x, item));
            case Map<?, ?> m -> m.containsKey(item);
            default -> throw new TemplateError("'in' needs a string, list or mapping, got " + typeName(container));
        };
    }

    static long toLong(Object v, String what) {
        if (v instanceof Long l) return l;
        if (v instanceof Boolean b) return b ? 1 : 0;
        throw new TemplateError(what + " must be an integer, got " + typeName(v));
    }

    static double toDouble(Object v, String what) {
        if (v instanceof Number n) return n.doubleValue();
        if (v instanceof Boolean b) return b ? 1 : 0;
        throw new TemplateError(what + " must be a number, got " + typeName(v));
    }

    static String typeName(Object v) {
        return switch (v) {
            case null -> "none";
            case Undefined u -> "undefined";
            case String s -> "string";
            case Long l -> "integer";
            case Double d -> "float";
            case Boolean b -> "boolean";
            case List<?> l -> "list";
            case Map<?, ?> m -> "mapping";
            default -> v.getClass().getSimpleName();
        };
    }
}
