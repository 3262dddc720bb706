package dev.quantflow.actors.stage;

import dev.quantflow.actors.engine.EngineConfig;
import dev.quantflow.actors.engine.KvCacheFactory;
import dev.quantflow.actors.engine.LinearProbe;
import dev.quantflow.actors.engine.StageFaults;
import dev.quantflow.engine.llama.LayerRange;
import dev.quantflow.engine.model.LlamaConfig;
import dev.quantflow.engine.progress.Progress;
import java.nio.file.Path;

/**
 * What a stage worker loads (and reloads after a failure): its layer range of the model on its
 * device, its linears (CPU: the factory; a device: the scheme quant by name) and its KV cache of
 * kvBlocks blocks; maxBatchRows sizes a device stage's workspace; progress hears the load.
 */
public record StageSpec(LayerRange range, int numStages, Path modelDir, LlamaConfig model, int kvBlocks, int kvBlockSize, int maxBatchRows,
                        int threads, EngineConfig.StageLinears linears, String quant, KvCacheFactory kvCaches, LinearProbe linearProbe,
                        StageFaults faults, Progress progress) {
    public boolean isLast() {
        return range.stage() == numStages - 1;
    }
}
