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
            case "fp32", "bf16", "dense" -> LinearFactory.DENSE;   // the stored dtype decides
            default -> throw new IllegalArgumentException("scheme '" + scheme + "' is not available on the CPU backend");
        };
    }

    @Override
    public List<DeviceMemoryUsage> memoryUsage() {
        return List.of();
    }
}
