package dev.quantflow.engine.generate;

/** A finished generation: ids and text of the completion (not the prompt), why it ended, timings. */
public record GenerateResult(int[] tokens, String text, String finishReason, int promptTokens,
                             long prefillNanos, long decodeNanos) {
    public double prefillTokensPerSecond() {
        return promptTokens * 1e9 / Math.max(1, prefillNanos);
    }

    /** Tokens after the first (which comes out of the prefill) over the decode time. */
    public double decodeTokensPerSecond() {
        return Math.max(0, tokens.length - 1) * 1e9 / Math.max(1, decodeNanos);
    }
}
