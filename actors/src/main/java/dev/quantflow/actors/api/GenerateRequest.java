package dev.quantflow.actors.api;

import dev.quantflow.engine.generate.GenerateOptions;

/**
 * One generation request as the serving layer hands it to the engine. requestId is unique per
 * request (the server makes it); topLogprobs &lt; 0 means no logprobs. bestOf sequences are
 * generated, each a sequence of its own in the scheduler (choice i samples with seed + i, as
 * vLLM's), and the n with the highest cumulative logprob are returned as choices 0..n-1
 * (all of them, streamed as they go, when bestOf == n). promptTopLogprobs &gt;= 0 (completions' echo
 * with logprobs, vLLM's prompt_logprobs): each choice first gets a PromptLogprobs event, the logprob
 * of every prompt token after the first with that many alternatives; &lt; 0: none.
 */
public record GenerateRequest(String requestId, Prompt prompt, GenerateOptions options, int topLogprobs, int n, int bestOf, int promptTopLogprobs) {
    public static final int MAX_N = 16;

    public GenerateRequest {
        if (n < 1 || bestOf < n || bestOf > MAX_N) throw new IllegalArgumentException("need 1 <= n <= best_of <= " + MAX_N + ", got n " + n + ", best_of " + bestOf);
    }

    /** Whether each choice gets the prompt's logprobs. */
    public boolean promptLogprobs() {
        return promptTopLogprobs >= 0;
    }

    public GenerateRequest(String requestId, Prompt prompt, GenerateOptions options, int topLogprobs, int n, int bestOf) {
        this(requestId, prompt, options, topLogprobs, n, bestOf, -1);
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
