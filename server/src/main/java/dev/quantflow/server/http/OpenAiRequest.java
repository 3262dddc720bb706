package dev.quantflow.server.http;

import dev.quantflow.actors.api.Prompt;
import dev.quantflow.server.api.GenerationParams;
import java.util.Optional;

/**
 * A validated POST /v1/completions or /v1/chat/completions body. chat selects the response shape;
 * includeUsage is stream_options.include_usage; params.topLogprobs() >= 0 asks for logprobs; echo
 * (completions) puts the prompt's text before each choice's.
 */
record OpenAiRequest(boolean chat, Optional<String> model, Prompt prompt, GenerationParams params, boolean stream, boolean includeUsage, boolean echo) {
    OpenAiRequest(boolean chat, Optional<String> model, Prompt prompt, GenerationParams params, boolean stream, boolean includeUsage) {
        this(chat, model, prompt, params, stream, includeUsage, false);
    }

    boolean logprobs() {
        return params.topLogprobs() >= 0;
    }
}
