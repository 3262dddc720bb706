package dev.quantflow.engine.quant;

import dev.quantflow.engine.compute.Linear;
import java.util.Random;

/**
 * One decode row (and a 16-row batch) through a 1.1B-shaped weight (gate/up: 5632 x 2048) in nf4,
 * fp4 (the same codebook kernel, another table) and w4a16-rtn:group=64, best of N rounds, with
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
                Int4GroupLinear.rtn(w, out, in, 64, null, "w4a16-rtn:group=64")};
        double sink = 0;
        for (Linear l : ls) {
            for (int rows : new int[] {1, 16}) {
                float[] y = new float[rows * out];
                long best = Long.MAX_VALUE;
                for (int round = 0; round < rounds; round++) {
                    long t0 = System.nanoTime();
                    l.forward(x, rows, y);
                    best = Math.min(best, System.nanoTime() - t0);
                    sink += y[0];
                }
                System.out.printf("%-20s %dx%d, %2d row(s): best %.3f ms, %.3f ns/weight/row, %.2f GB/s of weights (%d bytes)%n",
                        l.scheme(), out, in, rows, best / 1e6, best / ((double) out * in * rows), l.weightBytes() / (double) best, l.weightBytes());
            }
        }
        System.out.println("sink " + sink);
    }
}
