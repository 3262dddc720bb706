package dev.quantflow.actors.api;

import java.util.List;

/**
 * What a request's stream carries: Accepted once (after tokenization and admission), then Deltas,
 * then exactly one Finished. Errors fail the stream with an {@link EngineException}.
 */
public sealed interface TokenEvent {
    /** The prompt was encoded and the request admitted to the waiting queue. */
    record Accepted(String requestId, int promptTokens) implements TokenEvent {}

    /**
     * New tokens and the text that became final with them (may be empty while a multi-byte
     * character or a possible stop string is pending). logprobs is empty unless requested.
     */
    record Delta(String text, int[] tokenIds, List<TokenLogprob> logprobs) implements TokenEvent {}

    /** finishReason: "stop" (EOS or a stop string), "length" (max tokens or the context end), "cancelled". */
    record Finished(String finishReason, int promptTokens, int completionTokens) implements TokenEvent {}

    record TokenLogprob(int tokenId, String token, float logprob, List<TopLogprob> top) {}

    record TopLogprob(int tokenId, String token, float logprob) {}
}
