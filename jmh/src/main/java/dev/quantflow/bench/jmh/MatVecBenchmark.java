package dev.quantflow.bench.jmh;

import dev.quantflow.engine.compute.DenseLinear;
import dev.quantflow.engine.compute.Parallel;
import dev.quantflow.engine.model.DType;
import dev.quantflow.engine.model.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
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
 * One decode-step matrix-vector product y = W x (W: out x in), as the engine runs it (DenseLinear,
 * Vector API, on one thread and on all) against a plain scalar loop over the same bytes.
 *
 * <p>Matrices larger than 4 MiB are rotated over copies totalling at least 192 MiB, so each call
 * streams its weights from DRAM as a model's layers do (a single 46 MiB matrix would otherwise sit
 * partly in the 32 MiB L3); the small shape stays in cache.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "--sun-misc-unsafe-memory-access=allow", "-Xmx2g"})
public class MatVecBenchmark {
    static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final long ROTATE_ABOVE = 4L << 20, ROTATION_BYTES = 192L << 20;

    /** out x in */
    @Param({"512x512", "2048x5632", "4096x4096"})
    public String shape;

    int out, in, next;
    float[] x, y;
    Arena arena;
    MemorySegment[] f32, bf16;
    DenseLinear[] f32Linear, bf16Linear;

    @Setup(Level.Trial)
    public void setUp() {
        String[] d = shape.split("x");
        out = Integer.parseInt(d[0]);
        in = Integer.parseInt(d[1]);
        long f32Bytes = 4L * out * in;
        int copies = f32Bytes <= ROTATE_ABOVE ? 1 : (int) Math.max(2, (ROTATION_BYTES + f32Bytes - 1) / f32Bytes);
        arena = Arena.ofShared();
        f32 = new MemorySegment[copies];
        bf16 = new MemorySegment[copies];
        f32Linear = new DenseLinear[copies];
        bf16Linear = new DenseLinear[copies];
        SplittableRandom rnd = new SplittableRandom(42);
        for (int c = 0; c < copies; c++) {
            f32[c] = arena.allocate(f32Bytes, 64);
            bf16[c] = arena.allocate(2L * out * in, 64);
            for (long i = 0; i < (long) out * in; i++) {
                float v = (float) (rnd.nextDouble() * 2 - 1) * 0.035f;
                f32[c].set(F32, 4 * i, v);
                bf16[c].set(I16, 2 * i, (short) (Float.floatToRawIntBits(v) >>> 16));
            }
            f32Linear[c] = new DenseLinear(new Tensor("w", DType.F32, new long[] {out, in}, f32[c]), null);
            bf16Linear[c] = new DenseLinear(new Tensor("w", DType.BF16, new long[] {out, in}, bf16[c]), null);
        }
        x = new float[in];
        for (int i = 0; i < in; i++) x[i] = (float) rnd.nextGaussian();
        y = new float[out];
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        arena.close();
    }

    private int nextCopy() {
        int c = next;
        next = (c + 1) % f32.length;
        return c;
    }

    /** The baseline: one float accumulator, products added in order (what a naive port does). */
    @Benchmark
    public float[] f32Scalar() {
        MemorySegment w = f32[nextCopy()];
        for (int o = 0; o < out; o++) {
            long base = 4L * o * in;
            float s = 0;
            for (int i = 0; i < in; i++) s += w.get(F32, base + 4L * i) * x[i];
            y[o] = s;
        }
        return y;
    }

    @Benchmark
    public float[] f32Vector1Thread() {
        DenseLinear l = f32Linear[nextCopy()];
        Parallel.withThreads(1, () -> l.forward(x, 1, y));
        return y;
    }

    @Benchmark
    public float[] f32VectorAllThreads() {
        f32Linear[nextCopy()].forward(x, 1, y);
        return y;
    }

    @Benchmark
    public float[] bf16Scalar() {
        MemorySegment w = bf16[nextCopy()];
        for (int o = 0; o < out; o++) {
            long base = 2L * o * in;
            float s = 0;
            for (int i = 0; i < in; i++) s += Float.intBitsToFloat((w.get(I16, base + 2L * i) & 0xFFFF) << 16) * x[i];
            y[o] = s;
        }
        return y;
    }

    @Benchmark
    public float[] bf16Vector1Thread() {
        DenseLinear l = bf16Linear[nextCopy()];
        Parallel.withThreads(1, () -> l.forward(x, 1, y));
        return y;
    }

    @Benchmark
    public float[] bf16VectorAllThreads() {
        bf16Linear[nextCopy()].forward(x, 1, y);
        return y;
    }
}
