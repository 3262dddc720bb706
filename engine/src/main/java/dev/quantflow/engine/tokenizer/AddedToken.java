package dev.quantflow.engine.tokenizer;

/**
 * A token matched in the text before the model runs (tokenizer.json "added_tokens"; GGUF control
 * and user-defined tokens). lstrip/rstrip swallow whitespace beside the match, singleWord only
 * matches between word boundaries, normalized says whether it is matched in normalized text.
 */
record AddedToken(int id, String content, boolean singleWord, boolean lstrip, boolean rstrip, boolean normalized, boolean special) {}
