package dev.quantflow.engine.chat.jinja;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/** Walks the node tree and writes the output; one instance per render. */
final class Interpreter {
    /** Output limit: a template that loops forever or explodes fails instead of eating memory. */
    private static final int MAX_OUTPUT_CHARS = 64 << 20;

    private enum Flow { NORMAL, BREAK, CONTINUE }

    private final Deque<Map<String, Object>> scopes = new ArrayDeque<>();
    private final StringBuilder out = new StringBuilder();

    Interpreter(Map<String, Object> variables) {
        Map<String, Object> globals = Builtins.globals();
        globals.putAll(variables);
        scopes.push(globals);
    }

    String render(List<Node> nodes) {
        exec(nodes);
        return out.toString();
    }

    private Flow exec(List<Node> nodes) {
        for (Node n : nodes) {
            Flow f = exec(n);
            if (f != Flow.NORMAL) return f;
        }
        return Flow.NORMAL;
    }

    private Flow exec(Node node) {
        switch (node) {
            case Node.Text t -> write(t.text());
            case Node.Output o -> {
                Object v = eval(o.value());
                write(v instanceof Undefined ? "" : Values.str(v));
            }
            case Node.If i -> {
                for (Node.Branch b : i.branches())
                    if (Values.truthy(eval(b.condition()))) return exec(b.body());
                return exec(i.otherwise());
            }
            case Node.For f -> {
                return loop(f);
            }
            case Node.Set s -> {
                Object v = eval(s.value());
                if (s.attribute().isPresent()) {
                    if (!(lookup(s.name()) instanceof Namespace ns))
                        throw new TemplateError("line " + s.line() + ": set " + s.name() + "." + s.attribute().get() + " needs a namespace");
                    ns.attributes.put(s.attribute().get(), v);
                } else {
                    scopes.peek().put(s.name(), v);
                }
            }
            case Node.SetBlock s -> {
                int mark = out.length();
                exec(s.body());
                String captured = out.substring(mark);
                out.setLength(mark);
                scopes.peek().put(s.name(), captured);
            }
            case Node.Generation g -> {
                return exec(g.body());
            }
            case Node.Break b -> {
                return Flow.BREAK;
            }
            case Node.Continue c -> {
                return Flow.CONTINUE;
            }
        }
        return Flow.NORMAL;
    }

    private Flow loop(Node.For f) {
        Object iterable = eval(f.iterable());
        List<Object> items = Builtins.list(iterable, "line " + f.line() + ": for");
        if (f.filter().isPresent()) {
            List<Object> kept = new ArrayList<>();
            for (Object item : items) {
                scopes.push(new HashMap<>());
                try {
                    bind(f, item);
                    if (Values.truthy(eval(f.filter().get()))) kept.add(item);
                } finally {
                    scopes.pop();
                }
            }
            items = kept;
        }
        if (items.isEmpty()) return exec(f.otherwise());
        for (int i = 0; i < items.size(); i++) {
            scopes.push(new HashMap<>());
            try {
                bind(f, items.get(i));
                scopes.peek().put("loop", new LoopInfo(i, items.size(), items));
                if (exec(f.body()) == Flow.BREAK) break;
            } finally {
                scopes.pop();
            }
        }
        return Flow.NORMAL;
    }

    private void bind(Node.For f, Object item) {
        if (f.targets().size() == 1) {
            scopes.peek().put(f.targets().getFirst(), item);
            return;
        }
        List<Object> parts = Builtins.list(item, "line " + f.line() + ": for unpacking");
        if (parts.size() != f.targets().size())
            throw new TemplateError("line " + f.line() + ": cannot unpack " + parts.size() + " values into " + f.targets());
        for (int k = 0; k < parts.size(); k++) scopes.peek().put(f.targets().get(k), parts.get(k));
    }

    private void write(String s) {
        if (out.length() + s.length() > MAX_OUTPUT_CHARS) throw new TemplateError("the template output exceeds " + MAX_OUTPUT_CHARS + " characters");
        out.append(s);
    }

    private Object lookup(String name) {
        for (Map<String, Object> scope : scopes) if (scope.containsKey(name)) return scope.get(name);
        return Undefined.INSTANCE;
    }

    Object eval(Expr e) {
        return switch (e) {
            case Expr.Literal l -> l.value();
            case Expr.Name n -> lookup(n.name());
            case Expr.ListOf l -> {
                List<Object> out = new ArrayList<>();
                for (Expr x : l.items()) out.add(eval(x));
                yield out;
            }
            case Expr.DictOf d -> {
                Map<Object, Object> m = new LinkedHashMap<>();
                for (int i = 0; i < d.keys().size(); i++) m.put(eval(d.keys().get(i)), eval(d.values().get(i)));
                yield m;
            }
            case Expr.Attr a -> attribute(eval(a.target()), a.name());
            case Expr.Index i -> index(eval(i.target()), eval(i.index()));
            case Expr.Slice s -> slice(eval(s.target()), s.start().map(this::eval), s.stop().map(this::eval), s.step().map(this::eval));
            case Expr.Call c -> {
                Object fn = eval(c.function());
                if (!(fn instanceof JinjaCallable callable)) throw new TemplateError("'" + describe(c.function()) + "' is not callable");
                List<Object> args = new ArrayList<>();
                for (Expr x : c.args()) args.add(eval(x));
                Map<String, Object> kwargs = new LinkedHashMap<>();
                c.kwargs().forEach((k, v) -> kwargs.put(k, eval(v)));
                try {
                    yield callable.call(args, kwargs);
                } catch (IndexOutOfBoundsException missing) {
                    throw new TemplateError("'" + describe(c.function()) + "' is missing an argument");
                }
            }
            case Expr.Filter f -> {
                Object v = eval(f.target());
                List<Object> args = new ArrayList<>();
                for (Expr x : f.args()) args.add(eval(x));
                Map<String, Object> kwargs = new LinkedHashMap<>();
                f.kwargs().forEach((k, x) -> kwargs.put(k, eval(x)));
                try {
                    yield Builtins.filter(f.name(), v, args, kwargs);
                } catch (IndexOutOfBoundsException missing) {
                    throw new TemplateError("filter '" + f.name() + "' is missing an argument");
                }
            }
            case Expr.Test t -> {
                Object v = eval(t.target());
                List<Object> args = new ArrayList<>();
                for (Expr x : t.args()) args.add(eval(x));
                yield Builtins.test(t.name(), v, args) != t.negated();
            }
            case Expr.Unary u -> switch (u.op()) {
                case "not" -> !Values.truthy(eval(u.operand()));
                case "-" -> {
                    Object v = eval(u.operand());
                    yield v instanceof Long l ? (Object) (-l) : (Object) (-Values.toDouble(v, "unary minus operand"));
                }
                default -> throw new TemplateError("unknown operator " + u.op());
            };
            case Expr.Binary b -> binary(b);
            case Expr.Conditional c -> Values.truthy(eval(c.condition())) ? eval(c.then())
                    : c.otherwise().isPresent() ? eval(c.otherwise().get()) : Undefined.INSTANCE;
        };
    }

    private Object binary(Expr.Binary b) {
        switch (b.op()) {
            case "and" -> {
                Object l = eval(b.left());
                return Values.truthy(l) ? eval(b.right()) : l;
            }
            case "or" -> {
                Object l = eval(b.left());
                return Values.truthy(l) ? l : eval(b.right());
            }
            default -> {}
        }
        Object l = eval(b.left());
        Object r = eval(b.right());
        return switch (b.op()) {
            case "~" -> text(l) + text(r);
            case "==" -> Values.equal(l, r);
            case "!=" -> !Values.equal(l, r);
            case "<" -> Values.compare(l, r) < 0;
            case "<=" -> Values.compare(l, r) <= 0;
            case ">" -> Values.compare(l, r) > 0;
            case ">=" -> Values.compare(l, r) >= 0;
            case "in" -> Values.contains(r, l);
            case "+" -> plus(l, r);
            case "-", "*", "/", "//", "%", "**" -> arithmetic(b.op(), l, r);
            default -> throw new TemplateError("unknown operator " + b.op());
        };
    }

    private static String text(Object v) {
        return v instanceof Undefined ? "" : Values.str(v);
    }

    private static Object plus(Object l, Object r) {
        if (l instanceof String a && r instanceof String c) return a + c;
        if (l instanceof List<?> a && r instanceof List<?> c) {
            List<Object> out = new ArrayList<>(a);
            out.addAll(c);
            return out;
        }
        if (isNumber(l) && isNumber(r)) return arithmetic("+", l, r);
        throw new TemplateError("cannot add " + Values.typeName(l) + " and " + Values.typeName(r));
    }

    private static boolean isNumber(Object v) {
        return v instanceof Long || v instanceof Double || v instanceof Boolean;
    }

    private static Object arithmetic(String op, Object l, Object r) {
        if (op.equals("*") && l instanceof String s && r instanceof Long n) return s.repeat((int) Math.max(0, Math.min(n, 1_000_000)));
        if (!isNumber(l) || !isNumber(r)) throw new TemplateError("cannot apply " + op + " to " + Values.typeName(l) + " and " + Values.typeName(r));
        boolean ints = !(l instanceof Double) && !(r instanceof Double);
        if (ints) {
            long a = Values.toLong(l, op), c = Values.toLong(r, op);
            switch (op) {
                case "+": return a + c;
                case "-": return a - c;
                case "*": return a * c;
                case "//": if (c == 0) throw new TemplateError("integer division by zero"); return Math.floorDiv(a, c);
                case "%": if (c == 0) throw new TemplateError("modulo by zero"); return Math.floorMod(a, c);
                case "**": if (c >= 0) return (long) Math.pow(a, c); break;
                default: break;
            }
        }
        double a = Values.toDouble(l, op), c = Values.toDouble(r, op);
        return switch (op) {
            case "+" -> a + c;
            case "-" -> a - c;
            case "*" -> a * c;
            case "/" -> {
                if (c == 0) throw new TemplateError("division by zero");
                yield a / c;
            }
            case "//" -> Math.floor(a / c);
            case "%" -> a - c * Math.floor(a / c);
            case "**" -> Math.pow(a, c);
            default -> throw new TemplateError("unknown operator " + op);
        };
    }

    private static Object attribute(Object target, String name) {
        return switch (target) {
            case Undefined u -> throw new TemplateError("cannot read '" + name + "' of an undefined value");
            case null -> Undefined.INSTANCE;
            case Namespace ns -> ns.attributes.containsKey(name) ? ns.attributes.get(name) : Undefined.INSTANCE;
            case LoopInfo loop -> loop.attribute(name);
            case Map<?, ?> m when m.containsKey(name) -> m.get(name);
            default -> Builtins.method(target, name);
        };
    }

    private static Object index(Object target, Object key) {
        return switch (target) {
            case Undefined u -> throw new TemplateError("cannot index an undefined value with " + Values.repr(key));
            case null -> throw new TemplateError("cannot index none with " + Values.repr(key));
            case Map<?, ?> m -> m.containsKey(key) ? m.get(key) : key instanceof String s ? attribute(target, s) : Undefined.INSTANCE;
            case List<?> l -> {
                if (!(key instanceof Long i)) throw new TemplateError("list indices must be integers, got " + Values.typeName(key));
                long k = i < 0 ? l.size() + i : i;
                yield k >= 0 && k < l.size() ? l.get((int) k) : Undefined.INSTANCE;
            }
            case String s -> {
                if (!(key instanceof Long i)) throw new TemplateError("string indices must be integers");
                long k = i < 0 ? s.length() + i : i;
                yield k >= 0 && k < s.length() ? String.valueOf(s.charAt((int) k)) : Undefined.INSTANCE;
            }
            case Namespace ns -> key instanceof String s ? attribute(ns, s) : Undefined.INSTANCE;
            default -> throw new TemplateError("cannot index a " + Values.typeName(target));
        };
    }

    /** Python slicing a[start:stop:step] of lists and strings. */
    private static Object slice(Object target, Optional<Object> start, Optional<Object> stop, Optional<Object> step) {
        List<Object> items = Builtins.list(target, "slice");
        int n = items.size();
        long st = step.map(s -> Values.toLong(s, "slice step")).orElse(1L);
        if (st == 0) throw new TemplateError("slice step cannot be zero");
        long a = start.map(s -> Values.toLong(s, "slice start")).map(x -> x < 0 ? x + n : x).orElse(st > 0 ? 0L : n - 1L);
        long b = stop.map(s -> Values.toLong(s, "slice stop")).map(x -> x < 0 ? x + n : x).orElse(st > 0 ? (long) n : -1L);
        List<Object> out = new ArrayList<>();
        if (st > 0) {
            for (long i = Math.max(0, a); i < Math.min(n, b); i += st) out.add(items.get((int) i));
        } else {
            for (long i = Math.min(n - 1, a); i > Math.max(-1, b); i += st) out.add(items.get((int) i));
        }
        if (target instanceof String) {
            StringBuilder sb = new StringBuilder();
            for (Object o : out) sb.append(o);
            return sb.toString();
        }
        return out;
    }

    private static String describe(Expr e) {
        return switch (e) {
            case Expr.Name n -> n.name();
            case Expr.Attr a -> describe(a.target()) + "." + a.name();
            default -> "expression";
        };
    }
}
