package dev.quantflow.engine.backend;

import dev.quantflow.engine.compute.LinearFactory;
import dev.quantflow.engine.llama.StageCompute;
import dev.quantflow.engine.llama.StageLayout;
import dev.quantflow.engine.model.LlamaConfig;
import dev.quantflow.engine.model.WeightStore;
import dev.quantflow.engine.quant.QuantPlan;
import java.util.List;
import java.util.Optional;
import java.util.ServiceLoader;

/**
 * A place where layers can run (the CPU, CUDA cards). Implementations register themselves through
 * ServiceLoader (META-INF/services/dev.quantflow.engine.backend.ComputeBackend), so the engine
 * needs no compile-time dependency on any of them. An unavailable backend says why and never throws
 * from name(), unavailableReason() or devices().
 */
public interface ComputeBackend {
    /** The device prefix this backend owns: "cpu", "cuda". */
    String name();

    /** Empty when usable; otherwise one line saying why not (no driver, no device, no kernels). */
    Optional<String> unavailableReason();

    /** The devices it can place layers on; empty when unavailable. */
    List<ComputeDevice> devices();

    /**
     * A whole pipeline stage on device: the weights of layers [layout.first(), layout.last()), the
     * hidden state between them and the KV cache of those layers all in the device's memory. Each
     * linear's scheme is plan's; its weights come from what engineLinears (the engine's factory
     * for the same plan, or a quantized checkpoint's loader) builds, in the engine's packed
     * format, so every backend runs the same codes. Empty when this backend places only linears
     * (the CPU): the caller then builds a LlamaStage over engineLinears and its KvCache.
     *
     * @throws IllegalArgumentException for an unknown device, a scheme the device has no kernel for, or a layout it cannot hold
     * @throws IllegalStateException when the backend is unavailable
     */
    default Optional<StageCompute> stage(String device, QuantPlan plan, LinearFactory engineLinears, LlamaConfig config, WeightStore weights,
                                         StageLayout layout) {
        return Optional.empty();
    }

    /** Bytes in use per device and category, for the metrics. */
    List<DeviceMemoryUsage> memoryUsage();

    static List<ComputeBackend> installed() {
        return ServiceLoader.load(ComputeBackend.class).stream().map(ServiceLoader.Provider::get).toList();
    }

    /** The backend owning a device id such as "cpu" or "cuda:0". */
    static ComputeBackend forDevice(String device) {
        String prefix = device.contains(":") ? device.substring(0, device.indexOf(':')) : device;
        return installed().stream().filter(b -> b.name().equals(prefix)).findFirst()
                .orElseThrow(() -> new IllegalArgumentException("unknown device '" + device + "' (backends: "
                        + installed().stream().map(ComputeBackend::name).toList() + ")"));
    }
}
