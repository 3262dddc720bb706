package dev.quantflow.server.cli;

import dev.quantflow.engine.compute.ComputeBackend;
import dev.quantflow.engine.compute.LinearFactory;
import dev.quantflow.engine.compute.StagedLinearFactory;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine.Option;

/**
 * Where the layers run and in which scheme: --devices cuda:0,cuda:1 --stages 2 --quant llm-int8
 * puts the first half of the layers on cuda:0 and the rest (with lm_head) on cuda:1. Stage i runs
 * on device i modulo the number of devices.
 */
public final class PlacementOptions {
    @Option(names = "--devices", split = ",", paramLabel = "DEV", defaultValue = "cpu",
            description = "Devices for the stages: cpu or cuda:N, comma-separated (default: cpu; see `quantflow devices`)")
    List<String> devices = new ArrayList<>(List.of("cpu"));

    @Option(names = "--stages", defaultValue = "1", description = "Pipeline stages: contiguous layer ranges, one per device in turn (default 1)")
    int stages;

    @Option(names = "--quant", defaultValue = "dense", paramLabel = "SCHEME",
            description = "Linear scheme: dense (weights as stored); on the CPU any scheme of docs/QUANTIZATION.md (fp32, bf16, w8a16, "
                    + "w8a8-tensor, w8a8-dynamic[:group=G], llm-int8[:threshold=6.0], smoothquant[:alpha=0.5], w4a16-rtn|gptq|awq[:group=128]); "
                    + "on CUDA llm-int8[:threshold], w8a8[:group], w4a16[:group] (default dense)")
    String scheme;

    /** Whether every stage runs on the CPU (where engine.quant provides all schemes). */
    public boolean cpuOnly() {
        return devices.stream().allMatch(d -> d.equals("cpu"));
    }

    /** Checks --devices and --stages against the model. */
    public void validate(int numLayers) {
        if (devices.isEmpty()) throw new QuantflowCommand.UserError("--devices is empty");
        if (stages < 1 || stages > numLayers) throw new QuantflowCommand.UserError("--stages must be between 1 and the " + numLayers + " layers");
    }

    public LinearFactory linears(int numLayers) {
        validate(numLayers);
        List<LinearFactory> perStage = new ArrayList<>();
        for (int i = 0; i < stages; i++) perStage.add(factory(devices.get(i % devices.size())));
        return stages == 1 ? perStage.getFirst() : new StagedLinearFactory(perStage, StagedLinearFactory.evenBounds(numLayers, stages));
    }

    private LinearFactory factory(String device) {
        ComputeBackend backend = ComputeBackend.forDevice(device);
        backend.unavailableReason().ifPresent(reason -> {
            throw new QuantflowCommand.UserError(device + " is not available: " + reason);
        });
        return backend.linears(device, scheme);
    }
}
