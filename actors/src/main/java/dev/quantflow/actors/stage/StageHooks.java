package dev.quantflow.actors.stage;

import dev.quantflow.engine.compute.LinearFactory;
import dev.quantflow.engine.model.LlamaConfig;
import dev.quantflow.engine.model.WeightStore;

/**
 * Code a stage worker is built with in its own JVM, never sent in a message: the linears (null:
 * the scheme the stage spec names, through QuantizedModels.atLoad), the probe its snapshot
 * statistics come from, a fault hook, and an observer of each step (a stage node's own metrics).
 * Tests replace them; a production engine uses {@link #DEFAULT}.
 */
public record StageHooks(StageLinears linears, LinearProbe probe, StageFaults faults, StepObserver steps) {
    public static final StageHooks DEFAULT = new StageHooks(null, LinearProbe.OUTLIERS, StageFaults.NONE, StepObserver.NONE);

    /**
     * The linears of a CPU stage, built over the stage's own mapping of the weights (each stage,
     * and each reload after a failure, maps its own; a quantized checkpoint is read from there).
     */
    @FunctionalInterface
    public interface StageLinears {
        LinearFactory over(LlamaConfig model, WeightStore weights);
    }

    public StageHooks withLinears(StageLinears v) { return new StageHooks(v, probe, faults, steps); }
    public StageHooks withProbe(LinearProbe v) { return new StageHooks(linears, v, faults, steps); }
    public StageHooks withFaults(StageFaults v) { return new StageHooks(linears, probe, v, steps); }
    public StageHooks withSteps(StepObserver v) { return new StageHooks(linears, probe, faults, v); }
}
