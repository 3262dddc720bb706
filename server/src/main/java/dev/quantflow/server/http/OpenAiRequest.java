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
 * (completions) puts the prompt's text before each choice's; promptLogprobs: vLLM's
 * prompt_logprobs, the alternatives per prompt token (-1: not asked for).
 */
record OpenAiRequest(boolean chat, Optional<String> model, Prompt prompt, GenerationParams params, boolean stream, boolean includeUsage,
                     Optional<OutputConstraint> constraint, Optional<ToolFields.Tools> tools, boolean echo, int promptLogprobs) {
    OpenAiRequest(boolean chat, Optional<String> model, Prompt prompt, GenerationParams params, boolean stream, boolean includeUsage,
                  Optional<OutputConstraint> constraint, Optional<ToolFields.Tools> tools) {
        this(chat, model, prompt, params, stream, includeUsage, constraint, tools, false, -1);
    }

    /** The alternatives the engine computes per prompt token: for echo's logprobs and prompt_logprobs, the more of the two; -1: no prompt logprobs. */
    int promptTopLogprobs() {
        int echoed = echo && logprobs() ? params.topLogprobs() : -1;
        return Math.max(echoed, promptLogprobs);
    }

    /** Whether the output is to be read as tool calls (tools given and tool_choice not "none"). */
    boolean toolCalls() {
        return tools.isPresent() && tools.get().choice().mode() != dev.quantflow.engine.structured.ToolCalling.Mode.NONE;
    }

    boolean logprobs() {
        return params.topLogprobs() >= 0;
    }
}
