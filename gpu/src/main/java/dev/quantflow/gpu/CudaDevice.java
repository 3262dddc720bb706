package dev.quantflow.gpu;

import java.util.Locale;

/** A CUDA card as the driver reports it. */
public record CudaDevice(int ordinal, String name, long totalMemoryBytes, int ccMajor, int ccMinor, int multiprocessors) {
    public String id() {
        return "cuda:" + ordinal;
    }

    public String computeCapability() {
        return ccMajor + "." + ccMinor;
    }

    /** Our kernels use mma.sync int8 and cp.async: compute capability 8.0 (Ampere) or newer. */
    public boolean supported() {
        return ccMajor >= 8;
    }

    public String describe() {
        return String.format(Locale.ROOT, "%s  %s  %.1f GiB  compute capability %s  %d SMs%s", id(), name,
                totalMemoryBytes / (1024.0 * 1024 * 1024), computeCapability(), multiprocessors,
                supported() ? "" : "  (unsupported: needs compute capability >= 8.0)");
    }
}
