package dev.quantflow.engine.chat.jinja;

import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Pattern;

/** The filters, tests, global functions and string/dict methods chat templates use. */
final class Builtins {
    private Builtins() {}

    static Map<String, Object> globals() {
        Map<String, Object> g = new LinkedHashMap<>();
        g.put("raise_exception", (JinjaCallable) (args, kw) -> {
            throw new TemplateError(args.isEmpty() ? "the chat template refused the messages" : Values.str(args.getFirst()), true);
        });
        g.put("range", (JinjaCallable) (args, kw) -> range(args));
        g.put("namespace", (JinjaCallable) (args, kw) -> {
            Namespace ns = new Namespace();
            ns.attributes.putAll(kw);
            return ns;
        });
        g.put("dict", (JinjaCallable) (args, kw) -> new LinkedHashMap<>(kw));
        g.put("strftime_now", (JinjaCallable) (args, kw) -> strftime(args.isEmpty() ? "%Y-%m-%d" : Values.str(args.getFirst())));
        return g;
    }

    static Object filter(String name, Object v, List<Object> args, Map<String, Object> kw) {
        return switch (name) {
            case "trim" -> string(v, name).strip();
            case "upper" -> string(v, name).toUpperCase(Locale.ROOT);
            case "lower" -> string(v, name).toLowerCase(Locale.ROOT);
            case "title" -> title(string(v, name));
            case "capitalize" -> capitalize(string(v, name));
            case "length", "count" -> (long) length(v);
            case "string" -> v instanceof Undefined ? "" : Values.str(v);
            case "int" -> v instanceof String s ? parseLong(s) : (long) Values.toDouble(v, "int filter input");
            case "float" -> v instanceof String s ? Double.parseDouble(s.strip()) : Values.toDouble(v, "float filter input");
            case "abs" -> v instanceof Long l ? Math.abs(l) : Math.abs(Values.toDouble(v, "abs filter input"));
            case "default", "d" -> {
                boolean orFalsy = args.size() > 1 ? Values.truthy(args.get(1)) : Values.truthy(kw.getOrDefault("boolean", false));
                Object fallback = args.isEmpty() ? "" : args.getFirst();
                yield v instanceof Undefined || (orFalsy && !Values.truthy(v)) ? fallback : v;
            }
            case "first" -> list(v, name).isEmpty() ? Undefined.INSTANCE : list(v, name).getFirst();
            case "last" -> list(v, name).isEmpty() ? Undefined.INSTANCE : list(v, name).getLast();
            case "list" -> list(v, name);
            case "reverse" -> v instanceof String s ? new StringBuilder(s).reverse().toString() : reversed(list(v, name));
            case "join" -> {
                String sep = args.isEmpty() ? "" : Values.str(args.getFirst());
                StringBuilder sb = new StringBuilder();
                for (Object o : list(v, name)) sb.append(sb.isEmpty() ? "" : sep).append(Values.str(o));
                yield sb.toString();
            }
            case "replace" -> string(v, name).replace(Values.str(args.get(0)), Values.str(args.get(1)));
            case "items" -> items(v);
            case "tojson" -> Json.write(v, kw.containsKey("indent") ? (int) Values.toLong(kw.get("indent"), "indent")
                    : args.isEmpty() ? -1 : (int) Values.toLong(args.getFirst(), "indent"));
            case "safe", "e", "escape", "forceescape" -> v;
            case "selectattr", "rejectattr" -> {
                List<Object> out = new ArrayList<>();
                String attr = Values.str(args.getFirst());
                for (Object o : list(v, name)) {
                    Object a = o instanceof Map<?, ?> m ? (m.containsKey(attr) ? m.get(attr) : Undefined.INSTANCE) : Undefined.INSTANCE;
                    boolean ok = args.size() > 1 ? test(Values.str(args.get(1)), a, args.subList(2, args.size())) : Values.truthy(a);
                    if (ok == name.equals("selectattr")) out.add(o);
                }
                yield out;
            }
            case "map" -> {
                List<Object> out = new ArrayList<>();
                Object attr = kw.get("attribute");
                for (Object o : list(v, name)) {
                    if (attr != null) out.add(o instanceof Map<?, ?> m && m.containsKey(Values.str(attr)) ? m.get(Values.str(attr)) : Undefined.INSTANCE);
                    else out.add(filter(Values.str(args.getFirst()), o, args.subList(1, args.size()), Map.of()));
                }
                yield out;
            }
            default -> throw new TemplateError("unknown filter '" + name + "'");
        };
    }

    static boolean test(String name, Object v, List<Object> args) {
        return switch (name) {
            case "defined" -> !(v instanceof Undefined);
            case "undefined" -> v instanceof Undefined;
            case "none" -> v == null;
            case "string" -> v instanceof String;
            case "number" -> v instanceof Long || v instanceof Double;
            case "integer" -> v instanceof Long;
            case "float" -> v instanceof Double;
            case "boolean" -> v instanceof Boolean;
            case "true" -> Boolean.TRUE.equals(v);
            case "false" -> Boolean.FALSE.equals(v);
            case "mapping" -> v instanceof Map;
            case "sequence", "iterable" -> v instanceof List || v instanceof String || (name.equals("iterable") && v instanceof Map);
            case "callable" -> v instanceof JinjaCallable;
            case "odd" -> Values.toLong(v, "odd test input") % 2 != 0;
            case "even" -> Values.toLong(v, "even test input") % 2 == 0;
            case "divisibleby" -> Values.toLong(v, "divisibleby input") % Values.toLong(args.getFirst(), "divisibleby argument") == 0;
            case "equalto", "eq", "==", "sameas" -> Values.equal(v, args.getFirst());
            case "ne", "!=" -> !Values.equal(v, args.getFirst());
            case "lt", "<" -> Values.compare(v, args.getFirst()) < 0;
            case "le", "<=" -> Values.compare(v, args.getFirst()) <= 0;
            case "gt", ">" -> Values.compare(v, args.getFirst()) > 0;
            case "ge", ">=" -> Values.compare(v, args.getFirst()) >= 0;
            case "in" -> Values.contains(args.getFirst(), v);
            default -> throw new TemplateError("unknown test '" + name + "'");
        };
    }

    /** A method of a string, mapping or list, bound to its receiver; undefined when there is none of that name. */
    static Object method(Object receiver, String name) {
        if (receiver instanceof String s) {
            return switch (name) {
                case "strip" -> (JinjaCallable) (a, k) -> a.isEmpty() ? s.strip() : stripChars(s, Values.str(a.getFirst()), true, true);
                case "lstrip" -> (JinjaCallable) (a, k) -> a.isEmpty() ? s.stripLeading() : stripChars(s, Values.str(a.getFirst()), true, false);
                case "rstrip" -> (JinjaCallable) (a, k) -> a.isEmpty() ? s.stripTrailing() : stripChars(s, Values.str(a.getFirst()), false, true);
                case "upper" -> (JinjaCallable) (a, k) -> s.toUpperCase(Locale.ROOT);
                case "lower" -> (JinjaCallable) (a, k) -> s.toLowerCase(Locale.ROOT);
                case "title" -> (JinjaCallable) (a, k) -> title(s);
                case "capitalize" -> (JinjaCallable) (a, k) -> capitalize(s);
                case "startswith" -> (JinjaCallable) (a, k) -> s.startsWith(Values.str(a.getFirst()));
                case "endswith" -> (JinjaCallable) (a, k) -> s.endsWith(Values.str(a.getFirst()));
                case "replace" -> (JinjaCallable) (a, k) -> s.replace(Values.str(a.get(0)), Values.str(a.get(1)));
                case "split" -> (JinjaCallable) (a, k) -> split(s, a.isEmpty() || a.getFirst() == null ? null : Values.str(a.getFirst()));
                case "join" -> (JinjaCallable) (a, k) -> {
                    StringBuilder sb = new StringBuilder();
                    for (Object o : list(a.getFirst(), "join")) sb.append(sb.isEmpty() ? "" : s).append(Values.str(o));
                    return sb.toString();
                };
                case "find" -> (JinjaCallable) (a, k) -> (long) s.indexOf(Values.str(a.getFirst()));
                case "count" -> (JinjaCallable) (a, k) -> (long) s.split(Pattern.quote(Values.str(a.getFirst())), -1).length - 1;
                default -> Undefined.INSTANCE;
            };
        }
        if (receiver instanceof Map<?, ?> m) {
            return switch (name) {
                case "items" -> (JinjaCallable) (a, k) -> items(m);
                case "keys" -> (JinjaCallable) (a, k) -> new ArrayList<Object>(m.keySet());
                case "values" -> (JinjaCallable) (a, k) -> new ArrayList<Object>(m.values());
                case "get" -> (JinjaCallable) (a, k) -> m.containsKey(a.getFirst()) ? m.get(a.getFirst()) : a.size() > 1 ? a.get(1) : null;
                default -> Undefined.INSTANCE;
            };
        }
        return Undefined.INSTANCE;
    }

    static List<Object> list(Object v, String what) {
        return switch (v) {
            case List<?> l -> new ArrayList<>(l);
            case Collection<?> c -> new ArrayList<>(c);
            case Map<?, ?> m -> new ArrayList<>(m.keySet());
            case String s -> {
                List<Object> out = new ArrayList<>();
                s.codePoints().forEach(cp -> out.add(new String(Character.toChars(cp))));
                yield out;
            }
            case Undefined u -> throw new TemplateError(what + ": the value is undefined");
            case null -> throw new TemplateError(what + ": the value is none");
            default -> throw new TemplateError(what + " needs a list, got " + Values.typeName(v));
        };
    }

    private static List<Object> items(Object v) {
        if (!(v instanceof Map<?, ?> m)) throw new TemplateError("items needs a mapping, got " + Values.typeName(v));
        List<Object> out = new ArrayList<>();
        for (Map.Entry<?, ?> e : m.entrySet()) out.add(List.of(e.getKey(), e.getValue() == null ? Undefined.INSTANCE : e.getValue()));
        return out;
    }

    private static int length(Object v) {
        return switch (v) {
            case String s -> s.codePointCount(0, s.length());
            case Collection<?> c -> c.size();
            case Map<?, ?> m -> m.size();
            default -> throw new TemplateError("length needs a string, list or mapping, got " + Values.typeName(v));
        };
    }

    private static String string(Object v, String filter) {
        if (v instanceof String s) return s;
        if (v instanceof Undefined) return "";
        return Values.str(v);
    }

    private static List<Object> reversed(List<Object> l) {
        List<Object> r = new ArrayList<>(l);
        Collections.reverse(r);
        return r;
    }

    private static long parseLong(String s) {
        try {
            return Long.parseLong(s.strip());
        } catch (NumberFormatException e) {
            return 0;
        }
    }

    private static List<Object> range(List<Object> args) {
        long start = 0, stop, step = 1;
        if (args.size() == 1) {
            stop = Values.toLong(args.get(0), "range");
        } else {
            start = Values.toLong(args.get(0), "range");
            stop = Values.toLong(args.get(1), "range");
            if (args.size() > 2) step = Values.toLong(args.get(2), "range step");
        }
        if (step == 0) throw new TemplateError("range step must not be zero");
        List<Object> out = new ArrayList<>();
        for (long i = start; step > 0 ? i < stop : i > stop; i += step) {
            if (out.size() > 100_000) throw new TemplateError("range too long");
            out.add(i);
        }
        return out;
    }

    private static String title(String s) {
        StringBuilder sb = new StringBuilder(s.length());
        boolean start = true;
        for (char c : s.toCharArray()) {
            sb.append(start ? Character.toUpperCase(c) : Character.toLowerCase(c));
            start = !Character.isLetterOrDigit(c);
        }
        return sb.toString();
    }

    private static String capitalize(String s) {
        return s.isEmpty() ? s : Character.toUpperCase(s.charAt(0)) + s.substring(1).toLowerCase(Locale.ROOT);
    }

    private static String stripChars(String s, String chars, boolean left, boolean right) {
        int a = 0, b = s.length();
        while (left && a < b && chars.indexOf(s.charAt(a)) >= 0) a++;
        while (right && b > a && chars.indexOf(s.charAt(b - 1)) >= 0) b--;
        return s.substring(a, b);
    }

    private static List<Object> split(String s, String sep) {
        List<Object> out = new ArrayList<>();
        if (sep == null) {
            for (String part : s.strip().split("\\s+")) if (!part.isEmpty()) out.add(part);
            return out;
        }
        if (sep.isEmpty()) throw new TemplateError("split: empty separator");
        int i = 0;
        while (true) {
            int j = s.indexOf(sep, i);
            if (j < 0) {
                out.add(s.substring(i));
                return out;
            }
            out.add(s.substring(i, j));
            i = j + sep.length();
        }
    }

    /** Python's strftime for the directives chat templates use (%d %b %B %Y %m %H %M %S %y). */
    private static String strftime(String fmt) {
        LocalDateTime now = LocalDateTime.now();
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < fmt.length(); i++) {
            char c = fmt.charAt(i);
            if (c != '%' || i + 1 == fmt.length()) {
                sb.append(c);
                continue;
            }
            char d = fmt.charAt(++i);
            sb.append(switch (d) {
                case 'd' -> DateTimeFormatter.ofPattern("dd", Locale.ROOT).format(now);
                case 'b' -> DateTimeFormatter.ofPattern("MMM", Locale.ROOT).format(now);
                case 'B' -> DateTimeFormatter.ofPattern("MMMM", Locale.ROOT).format(now);
                case 'Y' -> DateTimeFormatter.ofPattern("yyyy", Locale.ROOT).format(now);
                case 'y' -> DateTimeFormatter.ofPattern("yy", Locale.ROOT).format(now);
                case 'm' -> DateTimeFormatter.ofPattern("MM", Locale.ROOT).format(now);
                case 'H' -> DateTimeFormatter.ofPattern("HH", Locale.ROOT).format(now);
                case 'M' -> DateTimeFormatter.ofPattern("mm", Locale.ROOT).format(now);
                case 'S' -> DateTimeFormatter.ofPattern("ss", Locale.ROOT).format(now);
                case '%' -> "%";
                default -> "%" + d;
            });
        }
        return sb.toString();
    }
}
