package dev.quantflow.actors.scheduler;

import java.util.Arrays;

/**
 * A request's compute-side state, owned by the scheduler alone: the tokens known so far (prompt
 * plus sampled), how many of them have their KV computed, and the KV block table. Every step lets
 * computed catch up with length; prefill, chunked prefill, decode and recompute after preemption
 * are all that one rule.
 */
final class Sequence {
    enum State { WAITING, RUNNING, ENDED }

    final long id;
    final long first;                // the id of the request's first sequence (its n / best_of siblings follow it)
    final String requestId;
    final int promptTokens;
    private int[] tokens;
    private int length;
    int computed;
    int[] blockTable = new int[0];   // replaced (never mutated in place) when it grows: steps in flight keep their copy
    State state = State.WAITING;
    int group = -1;
    long admission;                  // admission order; the latest admitted is preempted first
    boolean inFlight;
    boolean cancelRequested;
    int preemptions;
    boolean promptLogprobs;          // its prefill rows also return logits (every prompt position but the last)

    Sequence(long id, String requestId, int[] prompt) {
        this(id, id, requestId, prompt);
    }

    Sequence(long id, long first, String requestId, int[] prompt) {
        this.id = id;
        this.first = first;
        this.requestId = requestId;
        this.promptTokens = prompt.length;
        this.tokens = Arrays.copyOf(prompt, prompt.length + 16);
        this.length = prompt.length;
    }

    int length() {
        return length;
    }

    int token(int i) {
        return tokens[i];
    }

    void append(int token) {
        if (length == tokens.length) tokens = Arrays.copyOf(tokens, tokens.length * 2);
        tokens[length++] = token;
    }

    /** Tokens whose KV is still to compute. */
    int pending() {
        return length - computed;
    }
}
