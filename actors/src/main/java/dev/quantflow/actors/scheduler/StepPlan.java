package dev.quantflow.actors.scheduler;

import dev.quantflow.actors.protocol.Step;
import java.util.List;

/** A step as the scheduler remembers it while it is in flight: which sequences advance by how many tokens. */
record StepPlan(Step step, List<Scheduled> items, long startedNanos) {
    record Scheduled(Sequence sequence, int tokens) {}

    int rows() {
        return step.rows().rows();
    }
}
