package dev.quantflow.actors.api;

import java.nio.charset.StandardCharsets;
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
     * character or a possible stop string is pending). logprobs is empty unless requested. index:
     * the choice (0..n-1) the delta belongs to.
     */
    record Delta(String text, int[] tokenIds, List<TokenLogprob> logprobs, int index) implements TokenEvent {
        public Delta(String text, int[] tokenIds, List<TokenLogprob> logprobs) {
            this(text, tokenIds, logprobs, 0);
        }
    }

    /**
     * The prompt's logprobs for one choice (requested with promptLogprobs), before its first Delta:
     * firstToken is the text of the prompt's first token (which has no logprob), logprobs one entry
     * for each further prompt token, with the same alternatives as the generated tokens get.
     */
    record PromptLogprobs(String firstToken, List<TokenLogprob> logprobs, int index) implements TokenEvent {}

    /**
     * finishReason: "stop" (EOS or a stop string), "length" (max tokens or the context end), "cancelled".
     * index: the choice (0..n-1); a request with n choices ends with n Finished events, one each.
     */
    record Finished(String finishReason, int promptTokens, int completionTokens, int index) implements TokenEvent {
        public Finished(String finishReason, int promptTokens, int completionTokens) {
            this(finishReason, promptTokens, completionTokens, 0);
        }
    }

    /**
     * token: the text the token added to the completion; bytes: the bytes it added. They differ
     * only for a token that ends inside a multi-byte character: its text is "" (the character
     * comes with the token that completes it) while its bytes are its part of the character.
     * Concatenated over a completion, the tokens give its text and the bytes its UTF-8. rank: 1 +
     * the number of tokens more likely than this one (vLLM's rank), 0 where not computed.
     */
    record TokenLogprob(int tokenId, String token, byte[] bytes, float logprob, List<TopLogprob> top, int rank) {
        public TokenLogprob(int tokenId, String token, byte[] bytes, float logprob, List<TopLogprob> top) {
            this(tokenId, token, bytes, logprob, top, 0);
        }

        public TokenLogprob(int tokenId, String token, float logprob, List<TopLogprob> top) {
            this(tokenId, token, token.getBytes(StandardCharsets.UTF_8), logprob, top);
        }
    }

    /** An alternative at the same position: token and bytes are what it would have added there. */
    record TopLogprob(int tokenId, String token, byte[] bytes, float logprob) {
        public TopLogprob(int tokenId, String token, float logprob) {
            this(tokenId, token, token.getBytes(StandardCharsets.UTF_8), logprob);
        }
    }
}
