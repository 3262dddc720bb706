package dev.quantflow.engine.tokenizer;

/** Turns one pre-tokenized piece into token ids (the tokenizer.json "model" step). */
interface TokenModel {
    void encode(String piece, TokenIds out);
}
