package dev.quantflow.gpu;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;

/** The compiled kernels packed in the jar by the nvcc build: cuda/MODULE.fatbin and cuda/MODULE.ptx. */
public final class KernelResources {
    private KernelResources() {}

    public static Set<String> modules() {
        Set<String> m = new TreeSet<>();
        for (Kernel k : Kernel.values()) m.add(k.module);
        return m;
    }

    /** The PTX text of a module (compute_80), if the jar has it. */
    public static Optional<String> ptx(String module) {
        return read("cuda/" + module + ".ptx").map(b -> new String(b, StandardCharsets.UTF_8));
    }

    /**
     * The image to hand to cuModuleLoadData: the fatbin (sm_80/sm_90 machine code, compute_90 PTX
     * for newer cards) when present, else the PTX, NUL-terminated as the driver expects.
     */
    public static Optional<byte[]> image(String module) {
        Optional<byte[]> fatbin = read("cuda/" + module + ".fatbin");
        if (fatbin.isPresent()) return fatbin;
        return read("cuda/" + module + ".ptx").map(b -> Arrays.copyOf(b, b.length + 1));
    }

    /** Empty when every module is in the jar, else which ones are missing and why that happens. */
    public static Optional<String> missing() {
        Set<String> absent = new TreeSet<>();
        for (String m : modules())
            if (KernelResources.class.getClassLoader().getResource("cuda/" + m + ".ptx") == null) absent.add(m);
        if (absent.isEmpty()) return Optional.empty();
        return Optional.of(absent.size() == modules().size()
                ? "the CUDA kernels are not in this build (it ran without nvcc; rebuild where nvcc is installed)"
                : "CUDA kernel modules missing from this build: " + absent);
    }

    private static Optional<byte[]> read(String resource) {
        try (InputStream in = KernelResources.class.getClassLoader().getResourceAsStream(resource)) {
            return in == null ? Optional.empty() : Optional.of(in.readAllBytes());
        } catch (IOException e) {
            throw new UncheckedIOException("reading " + resource, e);
        }
    }
}
