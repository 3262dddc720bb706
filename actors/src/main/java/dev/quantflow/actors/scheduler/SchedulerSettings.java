package dev.quantflow.actors.scheduler;

import dev.quantflow.engine.llama.LayerRange;
import java.util.List;

/**
 * The scheduler's budgets. positionLimit: positions a sequence may use, the smaller of the
 * model's context and the KV cache's capacity (kvBlocks * kvBlockSize).
 */
public record SchedulerSettings(List<LayerRange> stages, int maxBatchTokens, int maxSequences, int maxWaiting,
                                int kvBlocks, int kvBlockSize, int contextLength) {
    public SchedulerSettings {
        stages = List.copyOf(stages);
    }

    public int positionLimit() {
        return (int) Math.min(contextLength, (long) kvBlocks * kvBlockSize);
    }
}
