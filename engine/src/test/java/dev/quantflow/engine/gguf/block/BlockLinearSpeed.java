package dev.quantflow.engine.gguf.block;

import dev.quantflow.engine.compute.Linear;
import dev.quantflow.engine.gguf.GgmlType;
import dev.quantflow.engine.compute.Parallel;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;

/** Times the GGUF block Linears named on a TinyLlama-1.1B MLP shape (5632x2048), 1 and 16 rows, 1 and 2 threads (docs/QUANTIZATION.md, "GGUF block formats" and "GGUF k-quant blocks"). */
public final class BlockLinearSpeed {
    public static void main(String[] a) {
        int out = 5632, in = 2048;
        Random rnd = new Random(1);
        System.out.println("species " + jdk.incubator.vector.FloatVector.SPECIES_PREFERRED + " fp32-activations=" + Boolean.getBoolean("quantflow.gguf.fp32-activations"));
        for (String tn : a) {
            GgmlType t = GgmlType.valueOf(tn);
            long bytes = t.byteSize((long) out * in);
            MemorySegment seg = Arena.global().allocate(bytes, 64);
            for (long i = 0; i < bytes; i++) seg.set(ValueLayout.JAVA_BYTE, i, (byte) rnd.nextInt());
            // sane scales: the f16 (super-)block scales, where each type keeps them
            int[] scales = switch (t) {
                case Q2_K -> new int[] {80, 82};
                case Q3_K -> new int[] {108};
                case Q6_K -> new int[] {208};
                case Q4_K, Q5_K, Q4_1, Q5_1 -> new int[] {0, 2};   // d and dmin / m
                default -> new int[] {0};
            };
            if (t.blockSize > 1) for (long b = 0; b < bytes / t.bytesPerBlock; b++)
                for (int at : scales) seg.set(ValueLayout.JAVA_SHORT_UNALIGNED, b * t.bytesPerBlock + at, Float.floatToFloat16(0.01f));
            else if (t == GgmlType.F16) for (long i = 0; i < bytes / 2; i++) seg.set(ValueLayout.JAVA_SHORT_UNALIGNED, 2 * i, Float.floatToFloat16((float) rnd.nextGaussian()));
            Linear l = GgufLinears.create(t, seg, out, in);
            for (int rows : new int[] {1, 16}) {
                float[] x = new float[rows * in], y = new float[rows * out];
                for (int i = 0; i < x.length; i++) x[i] = (float) rnd.nextGaussian();
                for (int threads : new int[] {1, 2}) {
                    double[] best = {Double.MAX_VALUE};
                    Parallel.withThreads(threads, () -> {
                        for (int rep = 0; rep < 40; rep++) {
                            long t0 = System.nanoTime();
                            l.forward(x, rows, y);
                            best[0] = Math.min(best[0], (System.nanoTime() - t0) / 1e6);
                        }
                    });
                    System.out.printf("%s %dx%d rows %d threads %d: best %.3f ms, %.1f GB/s weights, %.1f GFLOP/s%n", tn, out, in, rows, threads, best[0],
                            bytes / best[0] / 1e6, 2.0 * out * in * rows / best[0] / 1e6);
                }
            }
        }
    }
}
