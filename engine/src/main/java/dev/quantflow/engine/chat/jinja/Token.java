package dev.quantflow.engine.chat.jinja;

/** A token of an expression or statement: a name, a string, a number, or an operator. */
record Token(Kind kind, String text, Object value) {
    enum Kind { NAME, STRING, INT, FLOAT, OP, END }

    boolean is(String op) {
        return (kind == Kind.OP || kind == Kind.NAME) && text.equals(op);
    }

    @Override
    public String toString() {
        return kind == Kind.END ? "end of tag" : "'" + text + "'";
    }
}
