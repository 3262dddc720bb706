package dev.quantflow.engine.backend;

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
    public List<DeviceMemoryUsage> memoryUsage() {
        return List.of();
    }
}
