package dev.quantflow.engine.chat.jinja;

import java.util.List;
import java.util.Optional;

/** Template syntax tree: text, outputs and the statements chat templates use. */
sealed interface Node {
    record Text(String text) implements Node {}

    record Output(Expr value, int line) implements Node {}

    record If(List<Branch> branches, List<Node> otherwise) implements Node {}

    record Branch(Expr condition, List<Node> body) {}

    record For(List<String> targets, Expr iterable, Optional<Expr> filter, List<Node> body, List<Node> otherwise, int line) implements Node {}

    /** set name = value, or set namespace.attribute = value. */
    record Set(String name, Optional<String> attribute, Expr value, int line) implements Node {}

    /** {% set name %}body{% endset %} */
    record SetBlock(String name, List<Node> body) implements Node {}

    record Break() implements Node {}

    record Continue() implements Node {}

    /** {% generation %}...{% endgeneration %} (Hugging Face's assistant-mask marker): renders its body. */
    record Generation(List<Node> body) implements Node {}
}
