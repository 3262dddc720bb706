package dev.quantflow.server.http;

import dev.quantflow.actors.api.Prompt;
import dev.quantflow.engine.structured.OutputConstraint;
import dev.quantflow.server.api.GenerationParams;
import java.util.Optional;

/**
 * A validated POST /v1/completions or /v1/chat/completions body. chat selects the response shape;
 * includeUsage is stream_options.include_usage; params.topLogprobs() >= 0 asks for logprobs;
 * constraint is the structured output asked for (response_format or a guided_* extension, or the
 * one a forced tool_choice implies); tools: the chat request's tools and tool_choice; echo
 * (completions) puts the prompt's text before each choice's.
 */
record OpenAiRequest(boolean chat, Optional<String> model, Prompt prompt, GenerationParams params, boolean stream, boolean includeUsage,
                     Optional<OutputConstraint> constraint, Optional<ToolFields.Tools> tools, boolean echo) {
    OpenAiRequest(boolean chat, Optional<String> model, Prompt prompt, GenerationParams params, boolean stream, boolean includeUsage,
                  Optional<OutputConstraint> constraint, Optional<ToolFields.Tools> tools) {
        this(chat, model, prompt, params, stream, includeUsage, constraint, tools, false);
    }

    /** Whether the output is to be read as tool calls (tools given and tool_choice not "none"). */
    boolean toolCalls() {
        return tools.isPresent() && tools.get().choice().mode() != dev.quantflow.engine.structured.ToolCalling.Mode.NONE;
    }

    boolean logprobs() {
        return params.topLogprobs() >= 0;
    }
}
