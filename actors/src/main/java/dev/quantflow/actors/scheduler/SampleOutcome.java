package dev.quantflow.actors.scheduler;

/** What sampling did to one sequence of a step: it goes on with a new token, or it ended (its stream got Finished or an error). */
public sealed interface SampleOutcome {
    long sequence();

    record Next(long sequence, int token) implements SampleOutcome {}

    record Ended(long sequence) implements SampleOutcome {}
}
