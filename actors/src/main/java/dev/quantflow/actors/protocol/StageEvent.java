package dev.quantflow.actors.protocol;

import java.util.Map;

/** What a stage worker reports to the ref it was given (the scheduler, through a message adapter). */
public sealed interface StageEvent extends CborSerializable {
    int stage();

    record StageLoaded(int stage, int incarnation, long weightBytes, long kvBytes) implements StageEvent {}

    record StageLoadFailed(int stage, String message) implements StageEvent {}

    record StageFailed(int stage, long stepId, String message) implements StageEvent {}

    record StepDropped(int stage, long stepId) implements StageEvent {}

    /** The latest per-linear statistics of a stage (outlier-column fractions), by layer name. */
    record StageProbes(int stage, Map<String, Double> values) implements StageEvent {}
}
