package dev.quantflow.actors.protocol;

import java.util.List;

/** The sampler's answer to a step, to the ref it was given (the scheduler, through a message adapter). */
public record StepSampled(long stepId, List<SampleOutcome> outcomes, long[] stageNanos) implements CborSerializable {}
