package dev.quantflow.engine.tokenizer;

/** Placeholder (replaced by the tokenizer branch). */
public final class IncrementalDetokenizer {
    public String push(int tokenId) { throw new UnsupportedOperationException(); }
    public String flush() { throw new UnsupportedOperationException(); }
}
