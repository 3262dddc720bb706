package dev.quantflow.engine.chat.jinja;

/** A piece of template source after whitespace control: literal text, an output {{ }}, or a statement {% %}. */
sealed interface Piece {
    int line();

    record Text(String text, int line) implements Piece {}

    record Output(String source, int line) implements Piece {}

    record Statement(String source, int line) implements Piece {}
}
