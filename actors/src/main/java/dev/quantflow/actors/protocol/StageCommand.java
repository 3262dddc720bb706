package dev.quantflow.actors.protocol;

/** What a stage worker receives. Not sealed: a worker adds its own timer message. */
public interface StageCommand {
    /** A step's activations (rows, dim); empty for stage 0, which embeds the tokens itself. stageNanos: compute time per stage so far. */
    record Forward(Step step, float[] hidden, long[] stageNanos) implements StageCommand, CborSerializable {}

    /** Sent by the scheduler after this worker failed: steps older than epoch are dropped. */
    record Reset(long epoch) implements StageCommand, CborSerializable {}
}
