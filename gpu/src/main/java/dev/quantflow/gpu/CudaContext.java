package dev.quantflow.gpu;

import java.util.EnumMap;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import jcuda.Pointer;
import jcuda.driver.CUcontext;
import jcuda.driver.CUdevice;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUfunction;
import jcuda.driver.CUmodule;
import jcuda.driver.JCudaDriver;

/**
 * One card's primary context with our kernel modules loaded, its memory accounting and a scratch
 * workspace shared by the layers on it. One per device per process (open); the compute thread
 * of a device is the only user, and every public call makes the context current on its thread.
 * Work goes to the default stream, so copies and launches run in call order.
 */
public final class CudaContext {
    private static final Map<Integer, CudaContext> OPEN = new HashMap<>();

    private final CudaDevice device;
    private final CUcontext context = new CUcontext();
    private final Map<String, CUmodule> modules = new HashMap<>();
    private final EnumMap<Kernel, CUfunction> functions = new EnumMap<>(Kernel.class);
    private final DeviceMemory memory = new DeviceMemory();
    private final Map<String, DeviceBuffer> workspace = new HashMap<>();
    private final boolean checkEveryLaunch = Boolean.getBoolean("quantflow.cuda.sync");

    private CudaContext(CudaDevice device) {
        this.device = device;
        CUdevice dev = new CUdevice();
        JCudaDriver.cuDeviceGet(dev, device.ordinal());
        JCudaDriver.cuDevicePrimaryCtxRetain(context, dev);
        makeCurrent();
        for (String m : KernelResources.modules()) {
            byte[] image = KernelResources.image(m).orElseThrow(() -> new IllegalStateException(KernelResources.missing().orElse("kernel module " + m + " missing")));
            CUmodule module = new CUmodule();
            JCudaDriver.cuModuleLoadData(module, image);
            modules.put(m, module);
        }
        for (Kernel k : Kernel.values()) {
            CUfunction f = new CUfunction();
            JCudaDriver.cuModuleGetFunction(f, modules.get(k.module), k.entry);
            functions.put(k, f);
        }
    }

    /** The context of a card ("cuda:N"), created on first use. */
    public static synchronized CudaContext open(int ordinal) {
        CudaContext c = OPEN.get(ordinal);
        if (c != null) return c;
        if (!(CudaRuntime.probe() instanceof CudaRuntime.Ready ready)) throw new IllegalStateException(((CudaRuntime.Unavailable) CudaRuntime.probe()).reason());
        KernelResources.missing().ifPresent(reason -> { throw new IllegalStateException(reason); });
        if (ordinal < 0 || ordinal >= ready.devices().size())
            throw new IllegalArgumentException("no device cuda:" + ordinal + " (this machine has " + ready.devices().size() + ")");
        CudaDevice d = ready.devices().get(ordinal);
        if (!d.supported()) throw new IllegalArgumentException(d.describe());
        c = new CudaContext(d);
        OPEN.put(ordinal, c);
        return c;
    }

    /** The context of a card if this process has opened it (for metrics: never opens one). */
    public static synchronized Optional<CudaContext> ifOpen(int ordinal) {
        return Optional.ofNullable(OPEN.get(ordinal));
    }

    public CudaDevice device() {
        return device;
    }

    public DeviceMemory memory() {
        return memory;
    }

    public void makeCurrent() {
        JCudaDriver.cuCtxSetCurrent(context);
    }

    public DeviceBuffer allocate(long bytes, MemoryCategory category) {
        return new DeviceBuffer(this, bytes, category);
    }

    /** A named scratch buffer of at least bytes, grown (and zeroed) on demand, reused across layers. */
    public DeviceBuffer workspace(String name, long bytes) {
        DeviceBuffer b = workspace.get(name);
        if (b != null && b.bytes() >= bytes) return b;
        if (b != null) b.close();
        b = allocate(Math.max(bytes, 256), MemoryCategory.WORKSPACE);
        b.fill8((byte) 0);
        workspace.put(name, b);
        return b;
    }

    public void synchronize() {
        makeCurrent();
        JCudaDriver.cuCtxSynchronize();
    }

    /** A kernel argument that is a null device pointer (e.g. "no bias"). */
    public static final Object NULL = new Object();

    /**
     * Launches a kernel with arguments DeviceBuffer, CUdeviceptr, Integer, Float or NULL, in the
     * order of its C signature. With -Dquantflow.cuda.sync=true each launch is followed by a
     * synchronize so an error names the kernel that caused it.
     */
    public void launch(Kernel k, int gridX, int gridY, int block, int sharedBytes, Object... args) {
        if (gridX <= 0 || gridY <= 0) return;   // empty batch: nothing to do
        makeCurrent();
        Pointer[] params = new Pointer[args.length];
        for (int i = 0; i < args.length; i++) {
            params[i] = switch (args[i]) {
                case DeviceBuffer b -> Pointer.to(b.ptr());
                case CUdeviceptr p -> Pointer.to(p);
                case Integer v -> Pointer.to(new int[] {v});
                case Float v -> Pointer.to(new float[] {v});
                case Object o when o == NULL -> Pointer.to(new CUdeviceptr());
                default -> throw new IllegalArgumentException(k.entry + ": argument " + i + " has unsupported type " + args[i].getClass());
            };
        }
        JCudaDriver.cuLaunchKernel(functions.get(k), gridX, gridY, 1, block, 1, 1, sharedBytes, null, Pointer.to(params), null);
        if (checkEveryLaunch) {
            try {
                JCudaDriver.cuCtxSynchronize();
            } catch (RuntimeException e) {
                throw new IllegalStateException(k.entry + " failed: " + e.getMessage(), e);
            }
        }
    }
}
