package dev.quantflow.actors.api;

import dev.quantflow.engine.generate.GenerateOptions;

/**
 * One generation request as the serving layer hands it to the engine. requestId is unique per
 * request (the server makes it); topLogprobs &lt; 0 means no logprobs.
 */
public record GenerateRequest(String requestId, Prompt prompt, GenerateOptions options, int topLogprobs) {
    public GenerateRequest(String requestId, Prompt prompt, GenerateOptions options) {
        this(requestId, prompt, options, -1);
    }
}
