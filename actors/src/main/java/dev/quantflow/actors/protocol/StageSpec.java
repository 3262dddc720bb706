package dev.quantflow.actors.protocol;

import dev.quantflow.engine.kv.KvFormat;
import dev.quantflow.engine.llama.LayerRange;

/**
 * What a stage worker loads (and reloads after a failure), as data: its layer range of the model
 * in modelDir on its device, its linears by scheme name (a CPU stage builds them with
 * QuantizedModels.atLoad, a device stage its own), its KV cache of kvBlocks blocks in kvFormat;
 * maxBatchRows sizes a device stage's workspace, threads its matmuls (0: all cores); wire is the
 * precision its activations leave in for the next stage (the last stage's logits stay fp32).
 */
public record StageSpec(LayerRange range, int numStages, String modelDir, int kvBlocks, int kvBlockSize, int maxBatchRows,
                        int threads, String quant, KvFormat kvFormat, Activations.Format wire) implements CborSerializable {}
