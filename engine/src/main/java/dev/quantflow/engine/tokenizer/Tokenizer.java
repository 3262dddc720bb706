package dev.quantflow.engine.tokenizer;

/** Placeholder API (replaced by the tokenizer branch). */
public interface Tokenizer {
    static Tokenizer fromModelDir(java.nio.file.Path dir) { throw new UnsupportedOperationException(); }
    int[] encode(String text);
    int[] encode(String text, boolean addSpecialTokens);
    String decode(int... ids);
    int vocabSize();
    java.util.OptionalInt bosTokenId();
    java.util.Set<Integer> eosTokenIds();
    String tokenText(int id);
    IncrementalDetokenizer newDetokenizer();
}
