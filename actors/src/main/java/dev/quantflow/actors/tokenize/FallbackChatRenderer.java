package dev.quantflow.actors.tokenize;

import dev.quantflow.actors.api.Prompt;

/**
 * A plain chat rendering for models without a usable chat template: one "role: content" line per
 * message, then "assistant:" when a generation prompt is asked for. Stand-in until the engine's
 * ChatTemplate (tokenizer_config.json's Jinja template) is wired in by the server branch; only
 * {@link TokenizerWorker} calls it.
 */
public final class FallbackChatRenderer {
    private FallbackChatRenderer() {}

    public static String render(Prompt.Chat chat) {
        StringBuilder s = new StringBuilder();
        for (Prompt.ChatMessage m : chat.messages()) s.append(m.role()).append(": ").append(m.content()).append('\n');
        if (chat.addGenerationPrompt()) s.append("assistant:");
        return s.toString();
    }
}
