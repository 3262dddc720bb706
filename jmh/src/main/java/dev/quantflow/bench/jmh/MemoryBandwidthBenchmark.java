package dev.quantflow.bench.jmh;

import dev.quantflow.engine.compute.Parallel;
import dev.quantflow.engine.compute.VectorMath;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.DoubleAdder;
import jdk.incubator.vector.FloatVector;
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
 * Read bandwidth: sums a 512 MiB off-heap segment (16x the L3) with Vector loads, on 1 thread and
 * on 2 split through compute.Parallel as the kernels are. Decode of a model larger than the L3 can
 * go no faster than this many bytes per second divided by its weight bytes per token.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "--sun-misc-unsafe-memory-access=allow", "-Xmx1g"})
public class MemoryBandwidthBenchmark {
    public static final long BYTES = 512L << 20;
    private static final int CHUNKS = 256;

    @Param({"1", "2"})
    public int threads;

    Arena arena;
    MemorySegment data;

    @Setup(Level.Trial)
    public void setUp() {
        arena = Arena.ofShared();
        data = arena.allocate(BYTES, 4096);
        for (long i = 0; i < BYTES; i += 4) data.set(MatVecBenchmark.F32, i, (float) (i & 1023));
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        arena.close();
    }

    @Benchmark
    public double read() {
        DoubleAdder total = new DoubleAdder();
        long chunk = BYTES / CHUNKS;
        Parallel.withThreads(threads, () -> Parallel.range(CHUNKS, Long.MAX_VALUE / CHUNKS / 2, (s, e) -> {
            FloatVector a0 = FloatVector.zero(VectorMath.F), a1 = a0, a2 = a0, a3 = a0;
            int step = VectorMath.F.length() * 4;
            for (long p = s * chunk, end = e * chunk; p < end; p += 4L * step) {
                a0 = a0.add(FloatVector.fromMemorySegment(VectorMath.F, data, p, ByteOrder.LITTLE_ENDIAN));
                a1 = a1.add(FloatVector.fromMemorySegment(VectorMath.F, data, p + step, ByteOrder.LITTLE_ENDIAN));
                a2 = a2.add(FloatVector.fromMemorySegment(VectorMath.F, data, p + 2L * step, ByteOrder.LITTLE_ENDIAN));
                a3 = a3.add(FloatVector.fromMemorySegment(VectorMath.F, data, p + 3L * step, ByteOrder.LITTLE_ENDIAN));
            }
            total.add(VectorMath.sumLanes(a0.add(a1).add(a2.add(a3))));
        }));
        return total.sum();
    }
}
