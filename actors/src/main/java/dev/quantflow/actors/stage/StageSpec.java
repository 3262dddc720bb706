package dev.quantflow.actors.stage;

import dev.quantflow.actors.engine.KvCacheFactory;
import dev.quantflow.actors.engine.LayerRange;
import dev.quantflow.actors.engine.LinearProbe;
import dev.quantflow.actors.engine.StageFaults;
import dev.quantflow.engine.compute.LinearFactory;
import dev.quantflow.engine.model.LlamaConfig;
import java.nio.file.Path;
import java.util.function.Supplier;

/** What a stage worker loads (and reloads after a failure): its layer range of the model, its linears and its KV cache. */
public record StageSpec(LayerRange range, int numStages, Path modelDir, LlamaConfig model, int kvBlocks, int kvBlockSize, int threads,
                        Supplier<LinearFactory> linears, KvCacheFactory kvCaches, LinearProbe linearProbe, StageFaults faults) {
    public boolean isLast() {
        return range.stage() == numStages - 1;
    }
}
