package dev.quantflow.gpu.backend;

import dev.quantflow.engine.backend.ComputeBackend;
import dev.quantflow.engine.backend.ComputeDevice;
import dev.quantflow.engine.backend.DeviceMemoryUsage;
import dev.quantflow.engine.compute.LinearFactory;
import dev.quantflow.engine.llama.StageCompute;
import dev.quantflow.engine.llama.StageLayout;
import dev.quantflow.engine.model.LlamaConfig;
import dev.quantflow.engine.model.WeightStore;
import dev.quantflow.engine.quant.QuantPlan;
import dev.quantflow.gpu.CudaContext;
import dev.quantflow.gpu.CudaDevice;
import dev.quantflow.gpu.CudaRuntime;
import dev.quantflow.gpu.KernelResources;
import dev.quantflow.gpu.MemoryCategory;
import dev.quantflow.gpu.linear.CudaLinearFactory;
import dev.quantflow.gpu.stage.CudaStage;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * The CUDA backend, found through ServiceLoader. Unavailable (with the reason) when there is no
 * driver, no card of compute capability 8.0+, or the build had no nvcc and so no kernels.
 */
public final class CudaBackend implements ComputeBackend {
    @Override
    public String name() {
        return "cuda";
    }

    @Override
    public Optional<String> unavailableReason() {
        return switch (CudaRuntime.probe()) {
            case CudaRuntime.Unavailable u -> Optional.of(u.reason());
            case CudaRuntime.Ready r when r.devices().stream().noneMatch(CudaDevice::supported) ->
                    Optional.of("no CUDA device of compute capability 8.0 or newer");
            case CudaRuntime.Ready r -> KernelResources.missing();
        };
    }

    @Override
    public List<ComputeDevice> devices() {
        if (!(CudaRuntime.probe() instanceof CudaRuntime.Ready r)) return List.of();
        return r.devices().stream().map(d -> new ComputeDevice(d.id(), d.name(), d.totalMemoryBytes(),
                "compute capability " + d.computeCapability() + ", " + d.multiprocessors() + " SMs" + (d.supported() ? "" : " (unsupported)"))).toList();
    }

    /** The stage resident on the card: weights (the engine's codes, see CudaFormat), KV cache (f32) and the hidden state between its layers. */
    @Override
    public Optional<StageCompute> stage(String device, QuantPlan plan, LinearFactory engineLinears, LlamaConfig config, WeightStore weights,
                                        StageLayout layout) {
        unavailableReason().ifPresent(reason -> { throw new IllegalStateException("CUDA backend unavailable: " + reason); });
        CudaContext ctx = CudaContext.open(ordinal(device));
        return Optional.of(CudaStage.load(ctx, new CudaLinearFactory(ctx, plan, engineLinears), config, weights, layout));
    }

    /** "cuda:N" -> N. */
    public static int ordinal(String device) {
        if (!device.matches("cuda:\\d{1,3}")) throw new IllegalArgumentException("bad CUDA device '" + device + "' (expected cuda:N)");
        return Integer.parseInt(device.substring(5));
    }

    @Override
    public List<DeviceMemoryUsage> memoryUsage() {
        List<DeviceMemoryUsage> usage = new ArrayList<>();
        if (!(CudaRuntime.probe() instanceof CudaRuntime.Ready r)) return usage;
        for (CudaDevice d : r.devices()) {
            CudaContext.ifOpen(d.ordinal()).ifPresent(c -> usage.add(new DeviceMemoryUsage(d.id(), c.memory().bytes(MemoryCategory.WEIGHTS),
                    c.memory().bytes(MemoryCategory.KV_CACHE), c.memory().bytes(MemoryCategory.WORKSPACE), d.totalMemoryBytes())));
        }
        return usage;
    }
}
