package dev.quantflow.server.cli;

import dev.quantflow.actors.engine.EngineConfig;
import java.util.List;
import picocli.CommandLine.Option;

/** The actor pipeline's flags (stages, devices, scheduler budgets), shared by the commands that start an engine. */
public final class EngineOptions {
    @Option(names = "--stages", defaultValue = "1", description = "Pipeline stages; the layers split evenly (default: ${DEFAULT-VALUE})")
    int stages;

    @Option(names = "--layer-split", split = ",", paramLabel = "N,N,...", description = "Layers per stage, e.g. 3,5 (overrides --stages)")
    List<Integer> layerSplit = List.of();

    @Option(names = "--devices", split = ",", defaultValue = "cpu", paramLabel = "DEV,...",
            description = "One device for all stages or one per stage: cpu or cuda:N (the stage resident on that card) (default: ${DEFAULT-VALUE})")
    List<String> devices;

    @Option(names = "--max-batch-tokens", defaultValue = "512", description = "Token rows per step: prefill chunks + decode tokens (default: ${DEFAULT-VALUE})")
    int maxBatchTokens;

    @Option(names = "--max-seqs", defaultValue = "32", description = "Sequences running at once (default: ${DEFAULT-VALUE})")
    int maxSequences;

    @Option(names = "--kv-blocks", defaultValue = "0", description = "KV cache blocks; 0 = as many as --max-seqs full contexts need, within 512 MiB (default: ${DEFAULT-VALUE})")
    int kvBlocks;

    @Option(names = "--kv-block-size", defaultValue = "16", description = "Tokens per KV block (default: ${DEFAULT-VALUE})")
    int kvBlockSize;

    @Option(names = "--max-waiting", defaultValue = "256", description = "Queued requests before new ones are refused as overloaded (default: ${DEFAULT-VALUE})")
    int maxWaiting;

    @Option(names = "--stage-threads", defaultValue = "0", description = "Threads each stage's matmuls use; 0 = all cores, shared by the stages (default: ${DEFAULT-VALUE})")
    int stageThreads;

    @Option(names = "--quant", defaultValue = "fp32", paramLabel = "SCHEME", description = CliHelp.QUANT_SCHEMES + "; built at load: fp32, bf16, w8a16, llm-int8, w8a8-dynamic, w4a16-rtn (default: ${DEFAULT-VALUE})")
    String quant;

    @Option(names = "--kv", defaultValue = "f32", paramLabel = "f32|int8", description = "KV cache storage (default: ${DEFAULT-VALUE})")
    String kv;

    /** Applies the flags; model is needed to tell a quantized checkpoint from a scheme to build. */
    public EngineConfig.Builder apply(EngineConfig.Builder b, java.nio.file.Path model) {
        ServeCommand.checkQuant(model, quant);   // a bad scheme exits 2 before anything loads
        return apply(b).quant(quant).kvFormat(ServeCommand.kvCaches(kv));
    }

    public EngineConfig.Builder apply(EngineConfig.Builder b) {
        return b.stages(stages).layerSplit(layerSplit).devices(devices).maxBatchTokens(maxBatchTokens).maxSequences(maxSequences)
                .kvBlocks(kvBlocks).kvBlockSize(kvBlockSize).maxWaiting(maxWaiting).stageThreads(stageThreads);
    }
}
