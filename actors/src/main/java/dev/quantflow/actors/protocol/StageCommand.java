package dev.quantflow.actors.protocol;

import org.apache.pekko.actor.typed.ActorRef;

/** What a stage worker receives. Not sealed: a worker adds its own timer message. */
public interface StageCommand {
    /**
     * A step's activations (rows, dim); empty for stage 0, which embeds the tokens itself. stageNanos:
     * compute time per stage so far; sentAtMicros: the sender's wall clock (epoch microseconds) at the tell.
     */
    record Forward(Step step, Activations hidden, long[] stageNanos, long sentAtMicros) implements StageCommand, CborSerializable {
        public Forward(Step step, Activations hidden, long[] stageNanos) {
            this(step, hidden, stageNanos, nowMicros());
        }

        public static long nowMicros() {
            java.time.Instant t = java.time.Instant.now();
            return t.getEpochSecond() * 1_000_000L + t.getNano() / 1_000;
        }
    }

    /** Sent by the scheduler after this worker failed, or after another stage was lost: steps older than epoch are dropped. */
    record Reset(long epoch) implements StageCommand, CborSerializable {}

    /** The next stage was replaced (a stage node left and another took its layers): later steps go to next. */
    record Rewire(StageDownstream next) implements StageCommand, CborSerializable {}

    /** Answered once the steps queued before it have run: a stage node leaving waits for it. */
    record Quiesce(ActorRef<Quiesced> replyTo) implements StageCommand, CborSerializable {}

    record Quiesced(int stage) implements CborSerializable {}
}
