package dev.quantflow.actors.protocol;

import org.apache.pekko.actor.typed.ActorRef;

/** Where a stage's output goes: the next stage's activations, or the last stage's logits to the sampler. */
public sealed interface StageDownstream extends CborSerializable {
    record NextStage(ActorRef<StageCommand> ref) implements StageDownstream {}

    record ToSampler(ActorRef<SamplerCommand> ref) implements StageDownstream {}
}
