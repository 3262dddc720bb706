package dev.quantflow.gpu;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import jcuda.CudaException;
import jcuda.driver.CUdevice;
import jcuda.driver.CUdevice_attribute;
import jcuda.driver.CUresult;
import jcuda.driver.JCudaDriver;

/**
 * Whether CUDA can be used in this process, probed once. Loading JCuda's driver binding needs
 * libcuda.so.1 (the driver; no CUDA toolkit): without it the first touch throws
 * UnsatisfiedLinkError and every later one NoClassDefFoundError, so the answer is cached and
 * nothing else touches JCudaDriver before asking here.
 */
public final class CudaRuntime {
    /** The outcome of the probe. */
    public sealed interface Probe permits Ready, Unavailable {}

    public record Ready(List<CudaDevice> devices, int driverVersion) implements Probe {}

    public record Unavailable(String reason) implements Probe {}

    private static Probe probe;

    private CudaRuntime() {}

    public static synchronized Probe probe() {
        if (probe == null) probe = run();
        return probe;
    }

    private static Probe run() {
        if (Boolean.getBoolean("quantflow.cuda.disabled")) return new Unavailable("CUDA disabled (-Dquantflow.cuda.disabled=true)");
        try {
            JCudaDriver.setExceptionsEnabled(true);
            JCudaDriver.cuInit(0);
            int[] version = {0}, count = {0};
            JCudaDriver.cuDriverGetVersion(version);
            JCudaDriver.cuDeviceGetCount(count);
            if (count[0] == 0) return new Unavailable("no CUDA device (the driver found none)");
            List<CudaDevice> devices = new ArrayList<>();
            for (int i = 0; i < count[0]; i++) devices.add(describe(i));
            return new Ready(List.copyOf(devices), version[0]);
        } catch (Throwable t) {
            return new Unavailable(explain(t));
        }
    }

    private static CudaDevice describe(int ordinal) {
        CUdevice dev = new CUdevice();
        JCudaDriver.cuDeviceGet(dev, ordinal);
        byte[] name = new byte[256];
        JCudaDriver.cuDeviceGetName(name, name.length, dev);
        long[] mem = {0};
        JCudaDriver.cuDeviceTotalMem(mem, dev);
        return new CudaDevice(ordinal, cString(name), mem[0],
                attribute(dev, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR),
                attribute(dev, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR),
                attribute(dev, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT));
    }

    private static int attribute(CUdevice dev, int attribute) {
        int[] v = {0};
        JCudaDriver.cuDeviceGetAttribute(v, attribute, dev);
        return v[0];
    }

    private static String cString(byte[] b) {
        int n = 0;
        while (n < b.length && b[n] != 0) n++;
        return new String(b, 0, n, StandardCharsets.US_ASCII);
    }

    /** One line for why CUDA failed to come up, from what the binding threw. */
    static String explain(Throwable t) {
        String msg = String.valueOf(t.getMessage());
        if (t instanceof UnsatisfiedLinkError) {
            if (msg.contains("libcuda")) return "no CUDA driver (libcuda.so.1 not found): " + firstLine(msg);
            return "the JCuda native library did not load: " + firstLine(msg);
        }
        if (t instanceof NoClassDefFoundError) return "the JCuda driver binding failed to initialize earlier in this process: " + firstLine(msg);
        if (t instanceof CudaException) {
            if (msg.contains(CUresult.stringFor(CUresult.CUDA_ERROR_NO_DEVICE))) return "no CUDA device (" + firstLine(msg) + ")";
            if (msg.contains(CUresult.stringFor(CUresult.CUDA_ERROR_SYSTEM_DRIVER_MISMATCH)))
                return "the CUDA driver does not match the kernel module (" + firstLine(msg) + ")";
            return "the CUDA driver failed to initialize: " + firstLine(msg);
        }
        return "CUDA unavailable: " + t.getClass().getSimpleName() + ": " + firstLine(msg);
    }

    private static String firstLine(String s) {
        int nl = s.indexOf('\n');
        return (nl < 0 ? s : s.substring(0, nl)).strip();
    }
}
