package dev.quantflow.bench.jmh;

import dev.quantflow.engine.compute.DenseLinear;
import dev.quantflow.engine.compute.KernelMemory;
import dev.quantflow.engine.compute.Int8Kernels;
import dev.quantflow.engine.gguf.block.Q4_0Linear;
import dev.quantflow.engine.compute.Linear;
import dev.quantflow.engine.compute.PanelMatmul;
import dev.quantflow.engine.compute.Parallel;
import dev.quantflow.engine.compute.RowDecodable;
import dev.quantflow.engine.gguf.block.Q8_0Linear;
import dev.quantflow.engine.model.DType;
import dev.quantflow.engine.model.Tensor;
import dev.quantflow.engine.quant.FourBitCode;
import dev.quantflow.engine.quant.FourBitLinear;
import dev.quantflow.engine.quant.FourBitLinearOld;
import dev.quantflow.engine.quant.FourBitMatrix;
import dev.quantflow.engine.quant.Fp8Linear;
import dev.quantflow.engine.quant.Fp8LinearOld;
import dev.quantflow.engine.quant.Fp8Matrix;
import dev.quantflow.engine.quant.Fp8W8A8Linear;
import dev.quantflow.engine.quant.Fp8W8A8LinearOld;
import dev.quantflow.engine.model.Fp8Format;
import dev.quantflow.engine.quant.Int4GroupLinear;
import dev.quantflow.engine.quant.Int8Linear;
import dev.quantflow.engine.quant.IntRange;
import dev.quantflow.engine.quant.QuantizedMatrix;
import dev.quantflow.engine.quant.RangeMethod;
import dev.quantflow.engine.quant.W4A8Linear;
import dev.quantflow.engine.quant.W4A8LinearOld;
import dev.quantflow.engine.quant.W8A8DynamicLinear;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Quantized linears (w8a16, w8a8-dynamic, w4a16 at group 128 and 32) against bf16 on the
 * decoder's matrix shapes, 1 row (decode) and 16 rows (prefill), on 1 and 2 threads. Each kernel
 * "X" is followed by "XOld", the pre-issue-14 loop over the same bytes (QuantBaselines), so the
 * two run next to each other in one JVM; "w4a16gNFourStreams" is the first round's int4 decode
 * (one row only), "read" streams the same rotation of byte arrays with no arithmetic (the
 * bandwidth the int8 kernels can reach). Weights rotate over copies totalling >= 128 MiB so every
 * call streams them from DRAM. "nf4Old", "fp4Old", "fp8Old", "fp8w8a8Old": the 4-bit and FP8
 * linears before h-fast4 (one code per byte or row-major e4m3, a row at a time); "q8_0Cur": Q8_0Linear's
 * one-row path before h-avx2 (rows = 1 only). GB/s = weight bytes per call / time (KernelReport prints it).
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 4, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "--sun-misc-unsafe-memory-access=allow", "-Xmx2g"})
public class QuantMatMulBenchmark {
    /** 4x the 32 MiB L3; -Dquantflow.bench.rotationBytes=0 keeps two copies (a cache-resident comparison of the arithmetic). */
    static final long ROTATION_BYTES = Long.getLong("quantflow.bench.rotationBytes", 128L << 20);

    /** out x in */
    @Param({"2048x5632", "5632x2048"})
    public String shape;

    @Param({"1", "16"})
    public int rows;

    @Param({"1", "2"})
    public int threads;

    @Param({"bf16", "w8a16", "w8a16Old", "w8a8", "w8a8Old", "w8a8Int32", "w8a8g32", "w8a8g32Int32", "w4a16g128", "w4a16g128Old", "w4a16g32", "w4a16g32Old", "w4a16g128Panel", "w4a16g32Panel",
            "w4a16g128FourStreams", "w4a16g32FourStreams", "read", "readNative", "w8a16Unchunked", "w8a16Panel", "w8a16Chained", "nf4", "nf4Old", "nf4Cur", "nf4Masked", "fp4", "fp4Old", "fp4Cur", "fp8", "fp8Old", "fp8w8a8", "fp8w8a8Old", "q8_0", "q8_0Old", "q8_0Cur", "q8_0Scratch", "q4_0", "q4_0Old", "w4a8", "w4a8Old"})
    public String kernel;

    int out, in, next;
    float[] x, y;
    Arena arena;
    Linear[] linears;
    QuantizedMatrix[] matrices;
    byte[][] packed4;
    KernelMemory.View[] nativeCopies;
    Q8_0Baseline[] q8_0Old;
    Q8_0Cur[] q8_0Cur;
    long weightBytes;
    long sink;

    @Setup(Level.Trial)
    public void setUp() {
        String[] d = shape.split("x");
        out = Integer.parseInt(d[0]);
        in = Integer.parseInt(d[1]);
        SplittableRandom rnd = new SplittableRandom(42);
        float[] w = new float[out * in];
        for (int i = 0; i < w.length; i++) w[i] = (float) (rnd.nextDouble() * 2 - 1) * 0.035f;
        boolean int4 = kernel.startsWith("w4a16") || kernel.startsWith("w4a8");
        boolean gguf = kernel.startsWith("q8_0");   // GGUF Q8_0 blocks (random codes and scales), not quantized from w
        boolean baseline = kernel.endsWith("Old") || kernel.endsWith("FourStreams") || kernel.endsWith("Unchunked");
        if ((kernel.endsWith("FourStreams") || kernel.endsWith("Unchunked")) && rows != 1) throw new IllegalArgumentException(kernel + " is a decode kernel: rows must be 1");
        int group = kernel.startsWith("w4a16g32") || kernel.startsWith("w8a8g32") ? 32 : kernel.startsWith("w4a16") ? 128 : kernel.startsWith("w4a8") ? 64 : in;
        QuantizedMatrix m = kernel.equals("bf16") || kernel.startsWith("nf4") || kernel.startsWith("fp4") || kernel.startsWith("fp8") || gguf ? null
                : QuantizedMatrix.quantize(w, out, in, int4 ? IntRange.INT4_ASYM : IntRange.INT8_SYM, group, RangeMethod.MIN_MAX);
        weightBytes = bytesPerCall(kernel, out, in);
        int copies = (int) Math.max(2, (ROTATION_BYTES + weightBytes - 1) / weightBytes);
        arena = Arena.ofShared();
        linears = new Linear[copies];
        matrices = new QuantizedMatrix[copies];
        packed4 = new byte[copies][];
        nativeCopies = new KernelMemory.View[copies];
        q8_0Old = new Q8_0Baseline[copies];
        q8_0Cur = new Q8_0Cur[copies];
        for (int c = 0; c < copies; c++) {
            QuantizedMatrix mc = m == null ? null : new QuantizedMatrix(m.range(), out, in, m.layout(), m.q().clone(), m.scales().clone(), m.zeros().clone());
            matrices[c] = mc;
            switch (kernel) {
                case "bf16" -> {
                    MemorySegment s = arena.allocate(2L * out * in, 64);
                    for (int i = 0; i < w.length; i++) s.set(MatVecBenchmark.I16, 2L * i, (short) (Float.floatToRawIntBits(w[i]) >>> 16));
                    linears[c] = new DenseLinear(new Tensor("w", DType.BF16, new long[] {out, in}, s), null);
                }
                case "w8a16", "w8a16Panel", "w8a16Chained" -> linears[c] = new Int8Linear(mc, null);
                case "nf4", "fp4" -> linears[c] = new FourBitLinear(FourBitMatrix.quantize(FourBitCode.valueOf(kernel.toUpperCase(java.util.Locale.ROOT)), w, out, in, 64, true), null);
                // the one-row path before h-avx2 (dot8's 8-lane branch: unscaled two-half lookup times absmax)
                case "nf4Cur", "fp4Cur" -> linears[c] = new dev.quantflow.engine.quant.FourBitLinearCur(FourBitMatrix.quantize(FourBitCode.valueOf(kernel.substring(0, 3).toUpperCase(java.util.Locale.ROOT)), w, out, in, 64, true));
                case "nf4Masked" -> linears[c] = new dev.quantflow.engine.quant.FourBitLinearCur(FourBitMatrix.quantize(FourBitCode.NF4, w, out, in, 64, true), true);
                case "nf4Old", "fp4Old" -> linears[c] = new FourBitLinearOld(FourBitMatrix.quantize(FourBitCode.valueOf(kernel.substring(0, 3).toUpperCase(java.util.Locale.ROOT)), w, out, in, 64, true), null);
                case "fp8" -> linears[c] = new Fp8Linear(Fp8Matrix.quantize(w, out, in, Fp8Format.E4M3, true), null);
                case "fp8Old" -> linears[c] = new Fp8LinearOld(Fp8Matrix.quantize(w, out, in, Fp8Format.E4M3, true), null);
                case "fp8w8a8" -> linears[c] = new Fp8W8A8Linear(Fp8Matrix.quantize(w, out, in, Fp8Format.E4M3, true), Fp8W8A8Linear.Act.TOKEN, Float.POSITIVE_INFINITY, null);
                case "fp8w8a8Old" -> linears[c] = new Fp8W8A8LinearOld(Fp8Matrix.quantize(w, out, in, Fp8Format.E4M3, true), Fp8W8A8Linear.Act.TOKEN, Float.POSITIVE_INFINITY, null);
                case "w8a8", "w8a8Int32", "w8a8g32", "w8a8g32Int32" -> linears[c] = new W8A8DynamicLinear(mc, null, "w8a8-dynamic");
                case "w4a16g128", "w4a16g32", "w4a16g128Panel", "w4a16g32Panel" -> linears[c] = new Int4GroupLinear(mc, null, null, "w4a16-rtn");
                case "w4a16g128Old", "w4a16g32Old", "w4a16g128FourStreams", "w4a16g32FourStreams" -> packed4[c] = c == 0 ? QuantBaselines.pack4(mc) : packed4[0].clone();
                case "q8_0", "q8_0Scratch" -> linears[c] = new Q8_0Linear(Q8_0Baseline.randomBlocks(out, in, rnd, arena), out, in);
                case "q8_0Old" -> q8_0Old[c] = new Q8_0Baseline(Q8_0Baseline.randomBlocks(out, in, rnd, arena), out, in);
                case "q8_0Cur" -> q8_0Cur[c] = new Q8_0Cur(Q8_0Baseline.randomBlocks(out, in, rnd, arena), out, in);
                case "w4a8" -> linears[c] = new W4A8Linear(new Int4GroupLinear(mc, null, null, "w4a8"), "w4a8:group=64");
                case "w4a8Old" -> linears[c] = new W4A8LinearOld(new Int4GroupLinear(mc, null, null, "w4a8"), "w4a8:group=64");
                case "w8a16Unchunked" -> packed4[c] = QuantBaselines.interleave8Unchunked(mc.q(), out, in);
                case "readNative" -> {   // bf16's bytes, filled (not left to fault in during the stream)
                    nativeCopies[c] = KernelMemory.weights(weightBytes);
                    nativeCopies[c].view().fill((byte) c);
                }
                case "q4_0", "q4_0Old" -> {   // random codes, small f16 scales (GGUF Q4_0 blocks)
                    byte[] blocks = new byte[(int) weightBytes];
                    for (int i = 0; i < blocks.length; i++) blocks[i] = (byte) rnd.nextInt();
                    for (int at = 0; at < blocks.length; at += 18) {
                        short f = Float.floatToFloat16((float) (rnd.nextDouble() * 1e-2));
                        blocks[at] = (byte) f;
                        blocks[at + 1] = (byte) (f >> 8);
                    }
                    if (kernel.equals("q4_0")) linears[c] = new Q4_0Linear(MemorySegment.ofArray(blocks), out, in);
                    else {
                        nativeCopies[c] = KernelMemory.weights(weightBytes);
                        MemorySegment.copy(MemorySegment.ofArray(blocks), 0, nativeCopies[c].view(), 0, weightBytes);
                    }
                }
                default -> { }
            }
            // only the baselines read the matrix; the linears hold their own packed copy
            matrices[c] = kernel.equals("read") ? mc : !baseline || gguf ? null : kernel.startsWith("w4a16") ? org4(mc) : mc;
        }
        x = new float[rows * in];
        for (int i = 0; i < x.length; i++) x[i] = (float) rnd.nextGaussian();
        y = new float[rows * out];
    }

    /** Weight bytes a call streams: codes, fp32 scales, int4 zero points (bf16: 2 per weight). */
    static long bytesPerCall(String kernel, int out, int in) {
        if (kernel.equals("bf16") || kernel.equals("readNative")) return 2L * out * in;
        if (kernel.equals("read")) return (long) out * in;
        if (kernel.startsWith("fp8")) return (long) out * in + 4L * out;   // e4m3 codes + per-channel scales
        if (kernel.startsWith("nf4") || kernel.startsWith("fp4")) return (long) out * in / 2 + (long) out * in / 64;   // codes + 8-bit absmax (double quant)
        if (kernel.startsWith("q8_0")) return (long) out * in / 32 * 34;
        if (kernel.startsWith("q4_0")) return (long) out * in / 32 * 18;
        if (kernel.startsWith("w8a8g32")) return (long) out * in + 4L * out * ((in + 31) / 32);
        if (!kernel.startsWith("w4a16") && !kernel.startsWith("w4a8")) return (long) out * in + 4L * out;
        int g = kernel.startsWith("w4a16g32") ? 32 : kernel.startsWith("w4a8") ? 64 : 128;
        return (long) out * in / 2 + 5L * out * ((in + g - 1) / g);
    }

    /** The unsigned codes' scales and zero points (what the int4 baseline reads next to its packed bytes). */
    private static QuantizedMatrix org4(QuantizedMatrix m) {
        return dev.quantflow.engine.quant.Int4Packing.toUnsigned(m);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        arena.close();
    }

    @Benchmark
    public float[] matmul() {
        int c = next;
        next = (c + 1) % linears.length;
        Parallel.withThreads(threads, () -> run(c));
        return y;
    }

    private void run(int c) {
        QuantizedMatrix m = matrices[c];
        switch (kernel) {
            case "w8a16Old" -> QuantBaselines.w8a16(m.q(), m.scales(), out, in, x, rows, y);
            case "w8a8Old" -> QuantBaselines.w8a8(m, x, rows, y);
            case "w4a16g128Old", "w4a16g32Old" -> QuantBaselines.w4a16(packed4[c], m.scales(), m.zeros(), m.layout(), out, in, x, rows, y);
            case "w4a16g128FourStreams", "w4a16g32FourStreams" -> QuantBaselines.w4a16FourStreams(packed4[c], m.scales(), m.zeros(), m.layout(), out, in, x, y);
            case "read" -> sink += QuantBaselines.read(m.q());
            case "q8_0Old" -> q8_0Old[c].forward(x, rows, y);
            // the one-row path before h-avx2 (group1 and the f16 widening that multiplied subnormals)
            case "q8_0Cur" -> q8_0Cur[c].forward(x, rows, y);
            case "w8a16Unchunked" -> QuantBaselines.w8a16Unchunked(packed4[c], m.scales(), out, in, x, y);
            case "readNative" -> sink += (long) QuantBaselines.readNative(nativeCopies[c].view(), weightBytes);
            // the batched path before h-binv: the dense panel order over rows dequantized with their scale
            case "w8a16Panel" -> PanelMatmul.forward(out, in, in, ((RowDecodable) linears[c])::decodeRow, null, x, rows, y);
            // w4a16's batched path before its two-row tile (2026-12-03): rows dequantized into the dense panel
            case "w4a16g128Panel", "w4a16g32Panel" -> PanelMatmul.forward(out, in, in, ((RowDecodable) linears[c])::decodeRow, null, x, rows, y);
            // the batched path before h-mrow: rows dequantized into the dense tile, summed in decode's order
            case "w8a16Chained" -> PanelMatmul.forwardChained(out / Int8Kernels.ROWS * Int8Kernels.ROWS, out, in, Int8Kernels.CHUNK, Int8Kernels.block(), ((RowDecodable) linears[c])::decodeRow, null, null, x, rows, y);
            // the batched path before h-q8rows: 2-3 rows one at a time, 4 and more widened into the float scratch
            // the batched path before h-q8rows: the int32 tile of four weight rows per activation row
            case "w8a8Int32", "w8a8g32Int32" -> ((W8A8DynamicLinear) linears[c]).forward(x, rows, y, 1);
            case "q8_0Scratch" -> ((Q8_0Linear) linears[c]).forward(x, rows, y, 1);
            case "q4_0Old" -> QuantBaselines.q4_0(nativeCopies[c].view(), out, in, x, rows, y);
            default -> linears[c].forward(x, rows, y);
        }
    }
}
