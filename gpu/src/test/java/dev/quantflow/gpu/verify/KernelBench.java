package dev.quantflow.gpu.verify;

import dev.quantflow.engine.model.DType;
import dev.quantflow.engine.model.Tensor;
import dev.quantflow.gpu.CudaContext;
import dev.quantflow.gpu.CudaKernels.Path;
import dev.quantflow.gpu.CudaKernels;
import dev.quantflow.gpu.DeviceBuffer;
import dev.quantflow.gpu.EngineCodes;
import dev.quantflow.gpu.MemoryCategory;
import dev.quantflow.gpu.linear.CudaDenseLinear;
import dev.quantflow.gpu.linear.CudaLinear;
import dev.quantflow.gpu.linear.CudaLlmInt8Linear;
import dev.quantflow.gpu.linear.CudaW4A16Linear;
import dev.quantflow.gpu.linear.CudaW8A8Linear;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.function.Function;
import jcuda.driver.CUevent;
import jcuda.driver.JCudaDriver;

/**
 * Times the device-side linears (run(): activations already on the card, as a device-resident
 * stage would call them) for M in {1, 16, 256, 4096}, K = N = 4096, with CUDA events: 5 warm-up
 * runs, then the median of 30, rotating over 3 layers so weights do not sit in L2 (50 MiB).
 * Prints CSV: scheme,M,K,N,median_ms,tops (2*M*N*K / time). gpu/scripts/bench_torch.py times
 * torch._int_mm and fp16 torch.matmul on the same shapes for the ratio.
 *
 * <pre>java ... dev.quantflow.gpu.verify.KernelBench [--device N] [--sizes 1,16,256,4096]</pre>
 */
public final class KernelBench {
    private static final int K = 4096, N = 4096, LAYERS = 3, WARMUP = 5, REPS = 30;

    public static void main(String[] args) {
        int device = 0;
        int[] sizes = {1, 16, 256, 4096};
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--device" -> device = Integer.parseInt(args[++i]);
                case "--sizes" -> sizes = Arrays.stream(args[++i].split(",")).mapToInt(Integer::parseInt).toArray();
                default -> {
                    System.err.println("usage: KernelBench [--device N] [--sizes 1,16,256,4096]");
                    System.exit(2);
                }
            }
        }
        CudaContext ctx = CudaContext.open(device);
        CudaKernels k = new CudaKernels(ctx);
        Random rnd = new Random(7);
        float[] w = new float[N * K];
        for (int i = 0; i < w.length; i++) w[i] = (float) (rnd.nextGaussian() * 0.02);
        var w8 = EngineCodes.int8PerChannel(w, N, K);
        var w8g = EngineCodes.int8Groups(w, N, K, 128);
        var w4 = EngineCodes.int4Groups(w, N, K, 128);
        var f32 = KernelCheck.encode(CudaKernels.DenseType.F32, w, N, K);
        var bf16 = KernelCheck.encode(CudaKernels.DenseType.BF16, w, N, K);
        List<Object[]> schemes = List.of(
                new Object[] {"llm-int8(t=6)", (Function<Integer, CudaLinear>) i -> new CudaLlmInt8Linear(k, w8, null, 6f)},
                new Object[] {"w8a8-per-token", (Function<Integer, CudaLinear>) i -> new CudaLlmInt8Linear(k, w8, null, Float.POSITIVE_INFINITY)},
                new Object[] {"w8a8-g128", (Function<Integer, CudaLinear>) i -> new CudaW8A8Linear(k, w8g, null)},
                new Object[] {"w4a16-g128", (Function<Integer, CudaLinear>) i -> new CudaW4A16Linear(k, w4, null)},
                new Object[] {"fp32", (Function<Integer, CudaLinear>) i -> new CudaDenseLinear(k, tensor(f32), null)},
                new Object[] {"bf16", (Function<Integer, CudaLinear>) i -> new CudaDenseLinear(k, tensor(bf16), null)});
        System.out.println("# " + ctx.device().describe());
        System.out.println("scheme,M,K,N,median_ms,tops");
        for (Object[] s : schemes) {
            @SuppressWarnings("unchecked")
            Function<Integer, CudaLinear> make = (Function<Integer, CudaLinear>) s[1];
            List<CudaLinear> layers = new ArrayList<>();
            for (int l = 0; l < LAYERS; l++) layers.add(make.apply(l));
            for (int M : sizes) {
                float[] x = new float[M * K];
                for (int i = 0; i < x.length; i++) x[i] = (float) rnd.nextGaussian();
                for (int c = 0; c < 2; c++) x[rnd.nextInt(M) * K + rnd.nextInt(K)] = 20f;   // two outlier columns
                try (DeviceBuffer dx = ctx.allocate(4L * M * K, MemoryCategory.WORKSPACE); DeviceBuffer dy = ctx.allocate(4L * M * N, MemoryCategory.WORKSPACE)) {
                    dx.upload(x, x.length);
                    double ms = median(ctx, () -> {
                        for (CudaLinear layer : layers) layer.run(dx, M, dy, Path.AUTO);
                    }) / LAYERS;
                    System.out.printf(Locale.ROOT, "%s,%d,%d,%d,%.4f,%.2f%n", s[0], M, K, N, ms, 2.0 * M * N * K / (ms * 1e-3) / 1e12);
                }
            }
            layers.forEach(CudaLinear::close);
        }
    }

    private static Tensor tensor(KernelOps.DenseWeights d) {
        var dtype = d.type() == CudaKernels.DenseType.F32 ? DType.F32 : DType.BF16;
        return new Tensor("bench", dtype, new long[] {d.out(), d.in()}, MemorySegment.ofArray(d.raw()));
    }

    /** Median milliseconds of body over REPS runs after WARMUP, timed with events on the default stream. */
    static double median(CudaContext ctx, Runnable body) {
        ctx.makeCurrent();
        CUevent start = new CUevent(), stop = new CUevent();
        JCudaDriver.cuEventCreate(start, 0);
        JCudaDriver.cuEventCreate(stop, 0);
        for (int i = 0; i < WARMUP; i++) body.run();
        ctx.synchronize();
        double[] t = new double[REPS];
        float[] ms = {0};
        for (int i = 0; i < REPS; i++) {
            JCudaDriver.cuEventRecord(start, null);
            body.run();
            JCudaDriver.cuEventRecord(stop, null);
            JCudaDriver.cuEventSynchronize(stop);
            JCudaDriver.cuEventElapsedTime(ms, start, stop);
            t[i] = ms[0];
        }
        JCudaDriver.cuEventDestroy(start);
        JCudaDriver.cuEventDestroy(stop);
        Arrays.sort(t);
        return t[REPS / 2];
    }
}
