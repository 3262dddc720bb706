package dev.quantflow.bench.jmh;

import dev.quantflow.engine.compute.DenseLinear;
import dev.quantflow.engine.compute.Parallel;
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
import org.openjdk.jmh.annotations.Warmup;

/**
 * A batch of token rows through one fp32 linear on one thread, as the engine runs a decode step of
 * several sequences (DenseLinear.forward with rows > 1), against the same rows sent one at a time
 * (the baseline: what decoding the sequences separately would cost). Matrices above 4 MiB rotate
 * over copies totalling >= 192 MiB so that each call streams its weights from DRAM.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-Xmx2g"})
public class BatchedMatMulBenchmark {
    static final long ROTATE_ABOVE = 4L << 20, ROTATION_BYTES = 192L << 20;

    /** out x in */
    @Param({"1408x512", "4096x4096"})
    public String shape;

    @Param({"4", "8", "16"})
    public int rows;

    int out, in, next;
    float[] x, y, xRow, yRow;
    DenseLinear[] linears;

    @Setup(Level.Trial)
    public void setUp() {
        String[] d = shape.split("x");
        out = Integer.parseInt(d[0]);
        in = Integer.parseInt(d[1]);
        long bytes = 4L * out * in;
        int copies = bytes <= ROTATE_ABOVE ? 1 : (int) Math.max(2, (ROTATION_BYTES + bytes - 1) / bytes);
        SplittableRandom rnd = new SplittableRandom(42);
        linears = new DenseLinear[copies];
        float[] w = new float[out * in];
        for (int c = 0; c < copies; c++) {
            for (int i = 0; i < w.length; i++) w[i] = (float) (rnd.nextDouble() * 2 - 1) * 0.035f;
            linears[c] = DenseLinear.ofF32(w, out, in, null);
        }
        x = new float[rows * in];
        for (int i = 0; i < x.length; i++) x[i] = (float) rnd.nextGaussian();
        y = new float[rows * out];
        xRow = new float[in];
        yRow = new float[out];
    }

    private DenseLinear nextLinear() {
        DenseLinear l = linears[next];
        next = (next + 1) % linears.length;
        return l;
    }

    /** The baseline: each row alone, so every row reads the whole matrix. */
    @Benchmark
    public float[] rowByRow() {
        DenseLinear l = nextLinear();
        Parallel.withThreads(1, () -> {
            for (int r = 0; r < rows; r++) {
                System.arraycopy(x, r * in, xRow, 0, in);
                l.forward(xRow, 1, yRow);
                System.arraycopy(yRow, 0, y, r * out, out);
            }
        });
        return y;
    }

    @Benchmark
    public float[] batched() {
        DenseLinear l = nextLinear();
        Parallel.withThreads(1, () -> l.forward(x, rows, y));
        return y;
    }
}
