package dev.quantflow.engine.chat.jinja;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * Recursive-descent parser of Jinja expressions with Jinja's precedence, lowest first:
 * `a if c else b`, or, and, not, comparisons and `in`, `~`, `+ -`, `* / // %`, `**`, unary minus,
 * then a primary with its postfixes (.attr, [index], [a:b], (call)) and filters `|f` and tests `is t`.
 */
final class ExprParser {
    private static final Set<String> COMPARISONS = Set.of("==", "!=", "<", "<=", ">", ">=");
    private static final Set<String> TESTS_WITH_ARGUMENT = Set.of("divisibleby", "equalto", "sameas", "eq", "ne", "lt", "le", "gt", "ge", "in");

    private final List<Token> tokens;
    private final int line;
    private int pos;

    ExprParser(List<Token> tokens, int line) {
        this.tokens = tokens;
        this.line = line;
    }

    static Expr parse(String source, int line) {
        ExprParser p = new ExprParser(ExprLexer.lex(source, line), line);
        Expr e = p.expression();
        p.expectEnd();
        return e;
    }

    Token peek() {
        return tokens.get(pos);
    }

    Token next() {
        return tokens.get(pos++);
    }

    boolean accept(String op) {
        if (peek().is(op)) {
            pos++;
            return true;
        }
        return false;
    }

    void expect(String op) {
        if (!accept(op)) throw error("expected '" + op + "' but found " + peek());
    }

    String name() {
        Token t = next();
        if (t.kind() != Token.Kind.NAME) throw error("expected a name but found " + t);
        return t.text();
    }

    void expectEnd() {
        if (peek().kind() != Token.Kind.END) throw error("unexpected " + peek());
    }

    TemplateError error(String message) {
        return new TemplateError("line " + line + ": " + message);
    }

    Expr expression() {
        Expr e = or();
        if (accept("if")) {
            Expr cond = or();
            Optional<Expr> otherwise = accept("else") ? Optional.of(expression()) : Optional.empty();
            return new Expr.Conditional(cond, e, otherwise);
        }
        return e;
    }

    private Expr or() {
        Expr e = and();
        while (accept("or")) e = new Expr.Binary("or", e, and());
        return e;
    }

    private Expr and() {
        Expr e = not();
        while (accept("and")) e = new Expr.Binary("and", e, not());
        return e;
    }

    private Expr not() {
        if (accept("not")) return new Expr.Unary("not", not());
        return comparison();
    }

    private Expr comparison() {
        Expr e = concat();
        while (true) {
            Token t = peek();
            if (t.kind() == Token.Kind.OP && COMPARISONS.contains(t.text())) {
                pos++;
                e = new Expr.Binary(t.text(), e, concat());
            } else if (t.is("in")) {
                pos++;
                e = new Expr.Binary("in", e, concat());
            } else if (t.is("not") && tokens.get(pos + 1).is("in")) {
                pos += 2;
                e = new Expr.Unary("not", new Expr.Binary("in", e, concat()));
            } else {
                return e;
            }
        }
    }

    private Expr concat() {
        Expr e = additive();
        while (accept("~")) e = new Expr.Binary("~", e, additive());
        return e;
    }

    private Expr additive() {
        Expr e = multiplicative();
        while (true) {
            if (accept("+")) e = new Expr.Binary("+", e, multiplicative());
            else if (accept("-")) e = new Expr.Binary("-", e, multiplicative());
            else return e;
        }
    }

    private Expr multiplicative() {
        Expr e = power();
        while (true) {
            Token t = peek();
            if (t.kind() == Token.Kind.OP && Set.of("*", "/", "//", "%").contains(t.text())) {
                pos++;
                e = new Expr.Binary(t.text(), e, power());
            } else {
                return e;
            }
        }
    }

    private Expr power() {
        Expr e = unary();
        while (accept("**")) e = new Expr.Binary("**", e, unary());
        return e;
    }

    private Expr unary() {
        if (accept("-")) return new Expr.Unary("-", unary());
        if (accept("+")) return unary();
        return filtered(postfix(primary()));
    }

    private Expr filtered(Expr e) {
        while (true) {
            if (accept("|")) {
                String f = name();
                List<Expr> args = new ArrayList<>();
                Map<String, Expr> kwargs = new LinkedHashMap<>();
                if (accept("(")) arguments(args, kwargs);
                e = new Expr.Filter(e, f, args, kwargs);
            } else if (peek().is("is")) {
                pos++;
                boolean negated = accept("not");
                String test = name();
                List<Expr> args = new ArrayList<>();
                if (accept("(")) arguments(args, new LinkedHashMap<>());
                else if (TESTS_WITH_ARGUMENT.contains(test)) args.add(postfix(primary()));
                e = new Expr.Test(e, test, args, negated);
            } else {
                return e;
            }
        }
    }

    private Expr postfix(Expr e) {
        while (true) {
            if (accept(".")) {
                e = new Expr.Attr(e, name());
            } else if (accept("[")) {
                e = subscript(e);
            } else if (accept("(")) {
                List<Expr> args = new ArrayList<>();
                Map<String, Expr> kwargs = new LinkedHashMap<>();
                arguments(args, kwargs);
                e = new Expr.Call(e, args, kwargs);
            } else {
                return e;
            }
        }
    }

    private Expr subscript(Expr target) {
        Optional<Expr> start = peek().is(":") ? Optional.empty() : Optional.of(expression());
        if (accept("]")) return new Expr.Index(target, start.orElseThrow());
        expect(":");
        Optional<Expr> stop = peek().is(":") || peek().is("]") ? Optional.empty() : Optional.of(expression());
        Optional<Expr> step = Optional.empty();
        if (accept(":") && !peek().is("]")) step = Optional.of(expression());
        expect("]");
        return new Expr.Slice(target, start, stop, step);
    }

    /** Call arguments after '(' up to and including ')'; name=value pairs go to kwargs. */
    private void arguments(List<Expr> args, Map<String, Expr> kwargs) {
        if (accept(")")) return;
        do {
            if (peek().kind() == Token.Kind.NAME && tokens.get(pos + 1).is("=")) {
                String k = name();
                pos++;
                kwargs.put(k, expression());
            } else {
                args.add(expression());
            }
        } while (accept(",") && !peek().is(")"));
        expect(")");
    }

    private Expr primary() {
        Token t = next();
        switch (t.kind()) {
            case STRING -> {
                StringBuilder s = new StringBuilder((String) t.value());
                while (peek().kind() == Token.Kind.STRING) s.append((String) next().value());
                return new Expr.Literal(s.toString());
            }
            case INT, FLOAT -> {
                return new Expr.Literal(t.value());
            }
            case NAME -> {
                return switch (t.text()) {
                    case "true", "True" -> new Expr.Literal(Boolean.TRUE);
                    case "false", "False" -> new Expr.Literal(Boolean.FALSE);
                    case "none", "None" -> new Expr.Literal(null);
                    default -> new Expr.Name(t.text());
                };
            }
            case OP -> {
                if (t.is("(")) {
                    Expr e = expression();
                    if (accept(",")) {
                        List<Expr> items = new ArrayList<>(List.of(e));
                        while (!peek().is(")")) {
                            items.add(expression());
                            if (!accept(",")) break;
                        }
                        expect(")");
                        return new Expr.ListOf(items);
                    }
                    expect(")");
                    return e;
                }
                if (t.is("[")) {
                    List<Expr> items = new ArrayList<>();
                    while (!accept("]")) {
                        items.add(expression());
                        if (!accept(",")) {
                            expect("]");
                            break;
                        }
                    }
                    return new Expr.ListOf(items);
                }
                if (t.is("{")) {
                    List<Expr> keys = new ArrayList<>();
                    List<Expr> values = new ArrayList<>();
                    while (!accept("}")) {
                        keys.add(expression());
                        expect(":");
                        values.add(expression());
                        if (!accept(",")) {
                            expect("}");
                            break;
                        }
                    }
                    return new Expr.DictOf(keys, values);
                }
                throw error("unexpected " + t);
            }
            default -> throw error("unexpected " + t);
        }
    }
}
