package dev.quantflow.server.cli;

import dev.quantflow.engine.backend.ComputeBackend;
import dev.quantflow.engine.compute.LinearFactory;
import dev.quantflow.engine.kv.KvCache;
import dev.quantflow.engine.kv.KvFormat;
import dev.quantflow.engine.llama.CpuStage;
import dev.quantflow.engine.llama.LayerRange;
import dev.quantflow.engine.llama.LlamaModel;
import dev.quantflow.engine.llama.StageCompute;
import dev.quantflow.engine.llama.StageLayout;
import dev.quantflow.engine.llama.StagePlacement;
import dev.quantflow.engine.model.LlamaConfig;
import dev.quantflow.engine.quant.QuantPlan;
import dev.quantflow.engine.quant.QuantizedModels;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine.Option;

/**
 * Where the layers run and in which scheme: --devices cuda:0,cuda:1 --stages 2 --quant llm-int8
 * splits the layers by weight bytes (StagePlacement, as serve does) and puts the first stage on
 * cuda:0, the second (with lm_head) on cuda:1; one device runs every stage. A stage on a card keeps
 * its weights, KV cache and activations there, which cross the host only between stages.
 */
public final class PlacementOptions {
    @Option(names = "--devices", paramLabel = "DEV,...",
            description = "Devices for the stages: cpu or cuda:N, comma-separated, one for all or one per stage; see `quantflow devices` "
                    + "[quantflow.engine.devices, QUANTFLOW_DEVICES] (default: ${DEFAULT-VALUE})")
    String devicesFlag = ConfigDefaults.engineString("devices");

    @Option(names = "--stages", description = "Pipeline stages: contiguous layer ranges balanced by weight bytes, on the one device or one device each "
            + "[quantflow.engine.stages, QUANTFLOW_STAGES] (default: ${DEFAULT-VALUE})")
    int stages = ConfigDefaults.engineInt("stages");

    @Option(names = "--quant", paramLabel = "SCHEME", description = CliHelp.QUANT_SCHEMES + CliHelp.QUANT_KEY)
    String scheme = ConfigDefaults.engineString("quant");

    /** --devices as a list. */
    List<String> devices() {
        return CliHelp.devices(devicesFlag);
    }

    /** Whether every stage runs on the CPU (where engine.quant provides all schemes). */
    public boolean cpuOnly() {
        return devices().stream().allMatch(d -> d.equals("cpu"));
    }

    /** Checks --devices and --stages against the model. */
    public void validate(int numLayers) {
        if (devices().isEmpty()) throw new QuantflowCommand.UserError("--devices is empty");
        if (stages < 1 || stages > numLayers) throw new QuantflowCommand.UserError("--stages must be between 1 and the " + numLayers + " layers");
    }

    /** --quant as the engine's one quantization language reads it. */
    public QuantPlan plan() {
        try {
            return QuantPlan.parse(scheme, List.of());
        } catch (IllegalArgumentException e) {
            throw new QuantflowCommand.UserError("--quant " + scheme + ": " + e.getMessage());
        }
    }

    /** The layer range and device of every stage, as serve places them for the same flags. */
    public List<LayerRange> plan(LlamaConfig c) {
        validate(c.numLayers());
        try {
            return StagePlacement.plan(c, stages, List.of(), devices());
        } catch (IllegalArgumentException e) {
            throw new QuantflowCommand.UserError(e.getMessage());
        }
    }

    /**
     * The stages over the model's layers, placed by {@link #plan}: a whole stage
     * resident on a card (weights, hidden state and the KV cache of its layers, kvBlocks blocks
     * of KvCache.BLOCK_SIZE tokens) where the device's backend offers one, else a LlamaStage
     * with its KvCache in the given format. The caller closes them.
     */
    public List<StageCompute> stages(LlamaModel m, KvFormat kv, int kvBlocks, int maxBatchRows) {
        LlamaConfig c = m.config();
        QuantPlan plan = plan();
        LinearFactory linears = QuantizedModels.atLoad(c, m.weights(), scheme);   // the engine's, as serve's stages build them
        List<StageCompute> built = new ArrayList<>();
        try {
            for (LayerRange r : plan(c)) {
                String device = r.device();
                StageLayout layout = new StageLayout(r.first(), r.last(), kv, kvBlocks, KvCache.BLOCK_SIZE, maxBatchRows);
                ComputeBackend backend = backend(device);
                StageCompute s = backend.stage(device, plan, linears, c, m.weights(), layout).orElseGet(() -> new CpuStage(
                        m.stage(layout.first(), layout.last(), linears),
                        kv.create(layout.layers(), kvBlocks, KvCache.BLOCK_SIZE, c.numHeads(), c.numKvHeads(), c.headDim())));
                built.add(s);
            }
            return built;
        } catch (RuntimeException | Error e) {
            built.forEach(StageCompute::close);
            throw e;
        }
    }

    private static ComputeBackend backend(String device) {
        ComputeBackend backend = ComputeBackend.forDevice(device);
        backend.unavailableReason().ifPresent(reason -> {
            throw new QuantflowCommand.UserError(device + " is not available: " + reason);
        });
        return backend;
    }
}
