package dev.quantflow.actors.scheduler;

import dev.quantflow.engine.kv.BlockHash;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

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
    final List<BlockHash> blockHashes = new ArrayList<>();   // of the full blocks hashed so far: tokens never change, so neither do these

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

    /** The prefix-cache hash of full block i (its tokens known), computing the chain from root as far as needed. */
    BlockHash blockHash(int i, BlockHash root, int blockSize) {
        if ((i + 1) * blockSize > length) throw new IllegalArgumentException("block " + i + " of sequence " + id + " is not full");
        while (blockHashes.size() <= i) {
            int b = blockHashes.size();
            BlockHash parent = b == 0 ? root : blockHashes.get(b - 1);
            blockHashes.add(parent.next(tokens, b * blockSize, (b + 1) * blockSize));
        }
        return blockHashes.get(i);
    }

    /** Tokens whose KV is still to compute. */
    int pending() {
        return length - computed;
    }
}
