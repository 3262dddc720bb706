import dev.quantflow.engine.compute.DenseLinear;
import dev.quantflow.engine.compute.Linear;
import dev.quantflow.engine.compute.Parallel;
import dev.quantflow.engine.gguf.GgmlType;
import dev.quantflow.engine.gguf.block.GgufLinears;
import dev.quantflow.engine.model.DType;
import dev.quantflow.engine.model.Tensor;
import dev.quantflow.engine.quant.Int4GroupLinear;
import dev.quantflow.engine.quant.Int8Linear;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.management.ManagementFactory;
import java.util.Random;

/**
 * Times Linear.forward of one random matrix at several row counts on one thread: median ms, GFLOP/s
 * of wall time and per CPU-second of the calling thread. Schemes: fp32, bf16 (DenseLinear), w8a16,
 * w4a16 (RTN g128), q8_0, q4_0 (GGUF blocks). Run by hand with the java source launcher against an
 * engine jar, alternating the jars of two builds (docs/BENCHMARKS.md, "Batched quantized matmuls
 * on the dense panel kernel").
 * Arguments: scheme[,scheme...] out in rows,rows,... repetitions.
 */
public class BatchLinearAB {
    public static void main(String[] a) {
        int out = Integer.parseInt(a[1]), in = Integer.parseInt(a[2]), reps = Integer.parseInt(a[4]);
        Random r = new Random(1);
        float[] w = new float[out * in];
        for (int i = 0; i < w.length; i++) w[i] = (float) r.nextGaussian() * 0.02f;
        var bean = ManagementFactory.getThreadMXBean();
        for (String scheme : a[0].split(",")) {
            Linear l = linear(scheme, w, out, in);
            for (String rs : a[3].split(",")) {
                int rows = Integer.parseInt(rs);
                float[] x = new float[rows * in], y = new float[rows * out];
                for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
                long[] t = new long[reps], c = new long[reps];
                Parallel.withThreads(1, () -> {
                    for (int i = 0; i < 3; i++) l.forward(x, rows, y);
                    for (int i = 0; i < reps; i++) {
                        long c0 = bean.getCurrentThreadCpuTime(), t0 = System.nanoTime();
                        l.forward(x, rows, y);
                        t[i] = System.nanoTime() - t0;
                        c[i] = bean.getCurrentThreadCpuTime() - c0;
                    }
                });
                java.util.Arrays.sort(t);
                java.util.Arrays.sort(c);
                double ms = t[reps / 2] / 1e6, cpu = c[reps / 2] / 1e6, flop = 2.0 * out * in * rows;
                System.out.printf("%-6s %dx%d rows %4d: median %8.2f ms, %6.1f GFLOP/s, %6.1f GFLOP/s per CPU-s%n", scheme, out, in, rows, ms, flop / (ms * 1e6), flop / (cpu * 1e6));
            }
        }
    }

    static Linear linear(String scheme, float[] w, int out, int in) {
        return switch (scheme) {
            case "fp32" -> DenseLinear.ofF32(w, out, in, null);
            case "bf16" -> {
                MemorySegment s = Arena.ofAuto().allocate(2L * w.length);
                for (int i = 0; i < w.length; i++) s.set(ValueLayout.JAVA_SHORT_UNALIGNED, 2L * i, (short) (Float.floatToRawIntBits(w[i]) >>> 16));
                yield new DenseLinear(new Tensor("bf16", DType.BF16, new long[] {out, in}, s), null);
            }
            case "w8a16" -> Int8Linear.quantize(w, out, in, null);
            case "w4a16" -> Int4GroupLinear.rtn(w, out, in, 128, null, "w4a16");
            case "q8_0" -> GgufLinears.create(GgmlType.Q8_0, q8_0(w), out, in);
            default -> throw new IllegalArgumentException("scheme " + scheme);
        };
    }

    /** ggml's block_q8_0 bytes of w: per 32 weights an f16 scale max|w|/127 and 32 codes. */
    static MemorySegment q8_0(float[] w) {
        MemorySegment s = Arena.ofAuto().allocate(w.length / 32 * 34L);
        for (int b = 0; b < w.length / 32; b++) {
            float m = 0;
            for (int i = 0; i < 32; i++) m = Math.max(m, Math.abs(w[b * 32 + i]));
            float d = m / 127f, inv = d == 0 ? 0 : 1 / d;
            s.set(ValueLayout.JAVA_SHORT_UNALIGNED, b * 34L, Float.floatToFloat16(d));
            for (int i = 0; i < 32; i++) s.set(ValueLayout.JAVA_BYTE, b * 34L + 2 + i, (byte) Math.round(w[b * 32 + i] * inv));
        }
        return s;
    }
}
