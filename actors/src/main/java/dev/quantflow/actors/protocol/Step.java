package dev.quantflow.actors.protocol;

import dev.quantflow.engine.llama.BatchRows;

/**
 * One scheduled micro-batch on its way through the stages: the token rows of every sequence in
 * it, and which rows need logits (the last row of each sequence whose computed tokens caught up
 * with its known tokens). Immutable once sent; epoch lets a restarted stage refuse steps that
 * were planned against KV it no longer has.
 */
public record Step(long id, int group, long epoch, BatchRows rows, int[] logitRows, long[] logitSequences) {
    public Step {
        if (logitRows.length != logitSequences.length) throw new IllegalArgumentException("one sequence per logit row");
    }
}
