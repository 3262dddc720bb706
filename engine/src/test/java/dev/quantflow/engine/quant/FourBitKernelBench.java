package dev.quantflow.engine.quant;

import dev.quantflow.engine.compute.Linear;
import java.util.Random;

/**
 * One decode row (and a 16-row batch) through a 1.1B-shaped weight (gate/up: 5632 x 2048) in nf4,
 * fp4 (the same codebook kernel, another table), w4a16-rtn:group=64, w4a8:group=64 (the same int4
 * weights, int8 per-token activations) and w8a8-dynamic, best of N rounds alternated, with
 * compute.Parallel's threads.
 * Run: java --add-modules jdk.incubator.vector -cp engine/target/classes:engine/target/test-classes
 * dev.quantflow.engine.quant.FourBitKernelBench [out] [in] [rounds]
 */
public final class FourBitKernelBench {
    public static void main(String[] a) {
        int out = a.length > 0 ? Integer.parseInt(a[0]) : 5632, in = a.length > 1 ? Integer.parseInt(a[1]) : 2048, rounds = a.length > 2 ? Integer.parseInt(a[2]) : 20;
        Random r = new Random(1);
        float[] w = new float[out * in], x = new float[16 * in];
        for (int i = 0; i < w.length; i++) w[i] = (float) (r.nextGaussian() * 0.02);
        for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
        Linear[] ls = {new FourBitLinear(FourBitMatrix.quantize(FourBitCode.NF4, w, out, in, 64, true), null),
                new FourBitLinear(FourBitMatrix.quantize(FourBitCode.FP4, w, out, in, 64, true), null),
                Int4GroupLinear.rtn(w, out, in, 64, null, "w4a16-rtn:group=64"),
                W4A8Linear.rtn(w, out, in, 64, null, "w4a8:group=64"),
                W8A8DynamicLinear.quantize(w, out, in, in, null, "w8a8-dynamic")};
        double sink = 0;
        for (int rows : new int[] {1, 16}) {
            float[] y = new float[rows * out];
            long[] best = new long[ls.length];
            java.util.Arrays.fill(best, Long.MAX_VALUE);
            for (int round = 0; round < rounds; round++)   // the schemes alternate within each round (A B C A B C ...)
                for (int k = 0; k < ls.length; k++) {
                    long t0 = System.nanoTime();
                    ls[k].forward(x, rows, y);
                    best[k] = Math.min(best[k], System.nanoTime() - t0);
                    sink += y[0];
                }
            for (int k = 0; k < ls.length; k++)
                System.out.printf("%-20s %dx%d, %2d row(s): best %.3f ms, %.3f ns/weight/row, %.2f GB/s of weights (%d bytes)%n",
                        ls[k].scheme(), out, in, rows, best[k] / 1e6, best[k] / ((double) out * in * rows), ls[k].weightBytes() / (double) best[k], ls[k].weightBytes());
        }
        System.out.println("sink " + sink);
    }
}
