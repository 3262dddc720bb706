package dev.quantflow.actors.api;

import dev.quantflow.engine.generate.GenerateOptions;

/**
 * One generation request as the serving layer hands it to the engine. requestId is unique per
 * request (the server makes it); topLogprobs &lt; 0 means no logprobs. bestOf sequences are
 * generated, each a sequence of its own in the scheduler (choice i samples with seed + i, as
 * vLLM's), and the n with the highest cumulative logprob are returned as choices 0..n-1
 * (all of them, streamed as they go, when bestOf == n). promptLogprobs (needs topLogprobs >= 0):
 * each choice first gets a PromptLogprobs event, the logprob of every prompt token after the first.
 */
public record GenerateRequest(String requestId, Prompt prompt, GenerateOptions options, int topLogprobs, int n, int bestOf, boolean promptLogprobs) {
    public static final int MAX_N = 16;

    public GenerateRequest {
        if (n < 1 || bestOf < n || bestOf > MAX_N) throw new IllegalArgumentException("need 1 <= n <= best_of <= " + MAX_N + ", got n " + n + ", best_of " + bestOf);
        if (promptLogprobs && topLogprobs < 0) throw new IllegalArgumentException("prompt logprobs need topLogprobs >= 0");
    }

    public GenerateRequest(String requestId, Prompt prompt, GenerateOptions options, int topLogprobs, int n, int bestOf) {
        this(requestId, prompt, options, topLogprobs, n, bestOf, false);
    }

    public GenerateRequest(String requestId, Prompt prompt, GenerateOptions options, int topLogprobs) {
        this(requestId, prompt, options, topLogprobs, 1, 1);
    }

    public GenerateRequest(String requestId, Prompt prompt, GenerateOptions options) {
        this(requestId, prompt, options, -1);
    }

    /** Whether the choices are picked after all sequences ended (then nothing streams before that). */
    public boolean picksBest() {
        return bestOf > n;
    }
}
