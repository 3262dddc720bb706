package dev.quantflow.actors.stage;

/**
 * A test hook called by each stage worker just before it computes a step; throwing from it
 * simulates a compute failure in that stage. Production engines use {@link #NONE}.
 */
@FunctionalInterface
public interface StageFaults {
    void beforeCompute(int stage, long stepId, int rows);

    StageFaults NONE = (stage, stepId, rows) -> {};
}
