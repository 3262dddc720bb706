package dev.quantflow.engine.chat.jinja;

/** Jinja's undefined: a missing variable, key or attribute. Renders as "", is false, fails when dereferenced. */
final class Undefined {
    static final Undefined INSTANCE = new Undefined();

    private Undefined() {}

    @Override
    public String toString() {
        return "";
    }
}
