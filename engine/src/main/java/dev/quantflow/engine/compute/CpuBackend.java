package dev.quantflow.engine.compute;

import java.util.List;
import java.util.Optional;

/** The always-available CPU backend (Vector API); unquantized schemes here, quantized ones in engine.quant. */
public final class CpuBackend implements ComputeBackend {
    @Override
    public String name() {
        return "cpu";
    }

    @Override
    public Optional<String> unavailableReason() {
        return Optional.empty();
    }

    @Override
    public List<ComputeDevice> devices() {
        Runtime rt = Runtime.getRuntime();
        return List.of(new ComputeDevice("cpu", System.getProperty("os.arch"), rt.maxMemory(), rt.availableProcessors() + " cores (JVM heap shown)"));
    }

    @Override
    public LinearFactory linears(String device, String scheme) {
        if (!device.equals("cpu")) throw new IllegalArgumentException("the CPU backend has only device 'cpu', not '" + device + "'");
        return switch (scheme) {
            case "dense" -> LinearFactory.DENSE;   // the stored dtype decides
            default -> dev.quantflow.engine.quant.QuantizedModels.calibrationFree(scheme);
        };
    }

    @Override
    public List<DeviceMemoryUsage> memoryUsage() {
        return List.of();
    }
}
