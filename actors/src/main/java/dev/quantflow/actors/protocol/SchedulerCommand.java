package dev.quantflow.actors.protocol;

import dev.quantflow.actors.api.EngineSnapshot;
import dev.quantflow.actors.api.GenerateRequest;
import dev.quantflow.actors.api.TokenEvent;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.apache.pekko.actor.NoSerializationVerificationNeeded;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.stream.BoundedSourceQueue;

/**
 * What the scheduler receives from the engine's API. Not sealed: the scheduler adds the wrappers of
 * its message adapters (stage events, sampled steps, encoded prompts). Submit and WhenIdle carry
 * JVM-local objects, so the scheduler is the front end that stays in the serving JVM.
 */
public interface SchedulerCommand {
    /** The guardian's wiring, sent once all actors exist; until then the scheduler stashes. */
    record Start(Pipeline pipeline) implements SchedulerCommand, NoSerializationVerificationNeeded {}

    record Pipeline(ActorRef<TokenizerCommand.Encode> tokenizers, List<ActorRef<StageCommand>> stages, ActorRef<SamplerCommand> sampler) {
        public Pipeline {
            stages = List.copyOf(stages);
        }
    }

    /** The refs the scheduler's message adapters listen on: what the guardian hands to the actors that report to it. */
    record Ports(ActorRef<StageEvent> stageEvents, ActorRef<StepSampled> sampled, ActorRef<TokenizerCommand.EncodeResult> encoded)
            implements NoSerializationVerificationNeeded {}

    record Submit(long sequence, GenerateRequest request, BoundedSourceQueue<TokenEvent> events) implements SchedulerCommand, NoSerializationVerificationNeeded {}

    /** The request's stream ended for any reason (completed, failed, or the client cancelled it). */
    record StreamClosed(long sequence) implements SchedulerCommand, CborSerializable {}

    record Cancel(String requestId, ActorRef<Boolean> replyTo) implements SchedulerCommand, CborSerializable {}

    record GetSnapshot(ActorRef<EngineSnapshot> replyTo) implements SchedulerCommand, CborSerializable {}

    record Drain() implements SchedulerCommand, CborSerializable {}

    /** Stop after the messages already in the mailbox: a Submit that arrived before it is failed, not dropped (a stop signal would drop it). */
    record Shutdown() implements SchedulerCommand, CborSerializable {}

    record WhenIdle(CompletableFuture<Void> idle) implements SchedulerCommand, NoSerializationVerificationNeeded {}

    /** The stage directory (cluster frontend) found a worker for stage on a stage node: steps for that stage go to ref from now on. */
    record StageAttached(int stage, ActorRef<StageCommand> ref) implements SchedulerCommand, CborSerializable {}

    /**
     * The stage directory lost stage's worker (its node left, was downed or is unreachable): its KV
     * cache is gone with it, the sequences admitted fail, and new requests are refused until a
     * replacement worker has loaded.
     */
    record StageLost(int stage, String reason) implements SchedulerCommand, CborSerializable {}
}
