package dev.quantflow.actors.protocol;

import com.fasterxml.jackson.annotation.JsonSubTypes;
import com.fasterxml.jackson.annotation.JsonTypeInfo;
import org.apache.pekko.actor.typed.ActorRef;

/** Where a stage's output goes: the next stage's activations, or the last stage's logits to the sampler. */
@JsonTypeInfo(use = JsonTypeInfo.Id.NAME, property = "t")
@JsonSubTypes({@JsonSubTypes.Type(value = StageDownstream.NextStage.class, name = "next-stage"),
        @JsonSubTypes.Type(value = StageDownstream.ToSampler.class, name = "to-sampler")})
public sealed interface StageDownstream extends CborSerializable {
    record NextStage(ActorRef<StageCommand> ref) implements StageDownstream {}

    record ToSampler(ActorRef<SamplerCommand> ref) implements StageDownstream {}
}
