package dev.quantflow.actors.protocol;

import com.fasterxml.jackson.annotation.JsonSubTypes;
import com.fasterxml.jackson.annotation.JsonTypeInfo;

/** What sampling did to one sequence of a step: it goes on with a new token, or it ended (its stream got Finished or an error). */
@JsonTypeInfo(use = JsonTypeInfo.Id.NAME, property = "t")
@JsonSubTypes({@JsonSubTypes.Type(value = SampleOutcome.Next.class, name = "next"), @JsonSubTypes.Type(value = SampleOutcome.Ended.class, name = "ended")})
public sealed interface SampleOutcome {
    long sequence();

    record Next(long sequence, int token) implements SampleOutcome {}

    record Ended(long sequence) implements SampleOutcome {}
}
