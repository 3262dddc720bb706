package dev.quantflow.engine.chat.jinja;

import java.util.List;
import java.util.Map;
import java.util.Optional;

/** Expression syntax tree. */
sealed interface Expr {
    record Literal(Object value) implements Expr {}

    record Name(String name) implements Expr {}

    record ListOf(List<Expr> items) implements Expr {}

    record DictOf(List<Expr> keys, List<Expr> values) implements Expr {}

    record Attr(Expr target, String name) implements Expr {}

    record Index(Expr target, Expr index) implements Expr {}

    record Slice(Expr target, Optional<Expr> start, Optional<Expr> stop, Optional<Expr> step) implements Expr {}

    record Call(Expr function, List<Expr> args, Map<String, Expr> kwargs) implements Expr {}

    record Filter(Expr target, String name, List<Expr> args, Map<String, Expr> kwargs) implements Expr {}

    record Test(Expr target, String name, List<Expr> args, boolean negated) implements Expr {}

    record Unary(String op, Expr operand) implements Expr {}

    record Binary(String op, Expr left, Expr right) implements Expr {}

    /** then if condition else otherwise (otherwise undefined when absent). */
    record Conditional(Expr condition, Expr then, Optional<Expr> otherwise) implements Expr {}
}
