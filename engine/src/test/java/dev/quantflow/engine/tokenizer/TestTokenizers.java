package dev.quantflow.engine.tokenizer;

import dev.quantflow.engine.SharedData;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/** Tokenizers from shared data, loaded once per test JVM (Llama 3's takes about a second). */
final class TestTokenizers {
    private static final Map<String, Tokenizer> CACHE = new ConcurrentHashMap<>();

    private TestTokenizers() {}

    static Tokenizer llama2() {
        return dir("tokenizers/llama2");
    }

    static Tokenizer llama3() {
        return dir("tokenizers/llama3");
    }

    static Tokenizer phi2() {
        return dir("tokenizers/phi2");
    }

    static Tokenizer stories260K() {
        return dir("models/stories260K");
    }

    static Tokenizer sotu6M() {
        return dir("models/sotu6M");
    }

    static Tokenizer llamaSpmGguf() {
        return gguf("llama-spm");
    }

    static Tokenizer gpt2Gguf() {
        return gguf("gpt-2");
    }

    static Tokenizer dir(String relative) {
        return CACHE.computeIfAbsent(relative, r -> Tokenizer.fromModelDir(SharedData.path(r)));
    }

    static Tokenizer gguf(String vocabulary) {
        return CACHE.computeIfAbsent("gguf:" + vocabulary,
                v -> Tokenizer.fromGguf(SharedData.path("tokenizers/llamacpp-vocab/ggml-vocab-" + vocabulary + ".gguf")));
    }
}
