package dev.quantflow.actors.api;

import java.util.List;

/** What to generate from: raw text (encoded by the model's tokenizer), token ids, or chat messages. */
public sealed interface Prompt {
    record Text(String text) implements Prompt {}

    record Tokens(int[] ids) implements Prompt {}

    /** Rendered with the model's chat template (tokenizer_config.json), then encoded. */
    record Chat(List<ChatMessage> messages, boolean addGenerationPrompt) implements Prompt {}

    record ChatMessage(String role, String content) {}
}
