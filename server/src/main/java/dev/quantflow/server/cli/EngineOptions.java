package dev.quantflow.server.cli;

import static dev.quantflow.server.cli.ConfigDefaults.engineInt;
import static dev.quantflow.server.cli.ConfigDefaults.engineString;

import dev.quantflow.actors.engine.EngineConfig;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import picocli.CommandLine.Option;

/**
 * The actor pipeline's flags (stages, devices, scheduler budgets), shared by the commands that
 * start an engine. Each is a key of quantflow.engine and starts from its value there (reference.conf,
 * the environment): the defaults are not written here.
 */
public final class EngineOptions {
    @Option(names = "--stages", description = "Pipeline stages; the layers split by weight bytes [quantflow.engine.stages, QUANTFLOW_STAGES] (default: ${DEFAULT-VALUE})")
    int stages = engineInt("stages");

    @Option(names = "--layer-split", split = ",", paramLabel = "N,N,...", description = "Layers per stage, e.g. 3,5 (overrides --stages) [quantflow.engine.layer-split, QUANTFLOW_LAYER_SPLIT]")
    List<Integer> layerSplit = engineString("layer-split").isBlank() ? List.of()
            : Arrays.stream(engineString("layer-split").split(",")).map(String::strip).map(Integer::parseInt).toList();

    @Option(names = "--devices", paramLabel = "DEV,...",
            description = "One device for all stages or one per stage: cpu or cuda:N (the stage resident on that card) [quantflow.engine.devices, QUANTFLOW_DEVICES] (default: ${DEFAULT-VALUE})")
    String devices = engineString("devices");

    @Option(names = "--max-batch-tokens", description = "Token rows per step: prefill chunks + decode tokens [quantflow.engine.max-batch-tokens, QUANTFLOW_MAX_BATCH_TOKENS] (default: ${DEFAULT-VALUE})")
    int maxBatchTokens = engineInt("max-batch-tokens");

    @Option(names = "--max-seqs", description = "Sequences running at once [quantflow.engine.max-seqs, QUANTFLOW_MAX_SEQS] (default: ${DEFAULT-VALUE})")
    int maxSequences = engineInt("max-seqs");

    @Option(names = "--kv-blocks", description = "KV cache blocks; 0 = as many as --max-seqs full contexts need, within quantflow.engine.kv-memory [quantflow.engine.kv-blocks, QUANTFLOW_KV_BLOCKS] (default: ${DEFAULT-VALUE})")
    int kvBlocks = engineInt("kv-blocks");

    @Option(names = "--kv-block-size", description = "Tokens per KV block [quantflow.engine.kv-block-size, QUANTFLOW_KV_BLOCK_SIZE] (default: ${DEFAULT-VALUE})")
    int kvBlockSize = engineInt("kv-block-size");

    @Option(names = "--max-waiting", description = "Queued requests before new ones are refused as overloaded [quantflow.engine.max-waiting, QUANTFLOW_MAX_WAITING] (default: ${DEFAULT-VALUE})")
    int maxWaiting = engineInt("max-waiting");

    @Option(names = "--stage-threads", description = "Threads each stage's matmuls use; 0 = all cores, shared by the stages [quantflow.engine.stage-threads, QUANTFLOW_STAGE_THREADS] (default: ${DEFAULT-VALUE})")
    int stageThreads = engineInt("stage-threads");

    @Option(names = "--prefix-caching", negatable = true,
            description = "Reuse the KV blocks of prompt prefixes already computed [quantflow.engine.prefix-caching, QUANTFLOW_PREFIX_CACHING] "
                    + "(default: ${bundle:quantflow.engine.prefix-caching})")
    Boolean prefixCaching;   // unset: the configured value (a Boolean: picocli would toggle a boolean that defaults to true); the command's bundle is ConfigDefaults

    @Option(names = "--quant", paramLabel = "SCHEME", description = CliHelp.QUANT_SCHEMES + CliHelp.QUANT_KEY)
    String quant = engineString("quant");

    @Option(names = "--kv", paramLabel = "f32|f16|int8", description = "KV cache storage [quantflow.engine.kv, QUANTFLOW_KV] (default: ${DEFAULT-VALUE})")
    String kv = engineString("kv");

    /** Applies the flags; model is needed to tell a quantized checkpoint from a scheme to build. */
    public EngineConfig.Builder apply(EngineConfig.Builder b, Path model) {
        ServeCommand.checkQuant(model, quant);   // a bad scheme exits 2 before anything loads
        return apply(b).quant(quant).kvFormat(ServeCommand.kvCaches(kv));
    }

    public EngineConfig.Builder apply(EngineConfig.Builder b) {
        return b.stages(stages).layerSplit(layerSplit).devices(CliHelp.devices(devices)).maxBatchTokens(maxBatchTokens).maxSequences(maxSequences)
                .kvBlocks(kvBlocks).kvBlockSize(kvBlockSize).maxWaiting(maxWaiting).stageThreads(stageThreads)
                .prefixCaching(prefixCaching != null ? prefixCaching : ConfigDefaults.engine().getBoolean("prefix-caching"));
    }
}
