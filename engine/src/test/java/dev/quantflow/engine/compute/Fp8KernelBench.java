package dev.quantflow.engine.compute;

import dev.quantflow.engine.model.Fp8Format;
import java.util.Random;

/**
 * Bit-manipulation decode (Fp8Kernels.dotF8F32) against the 256-entry table (scalar lookups into a
 * row, then a vector dot) on one (out, in) weight matrix, single thread, alternating rounds.
 * Run: java --add-modules jdk.incubator.vector -cp engine/target/classes:engine/target/test-classes
 * dev.quantflow.engine.compute.Fp8KernelBench [out] [in] [rounds]
 */
public final class Fp8KernelBench {
    public static void main(String[] a) {
        int out = a.length > 0 ? Integer.parseInt(a[0]) : 2048, in = a.length > 1 ? Integer.parseInt(a[1]) : 2048, rounds = a.length > 2 ? Integer.parseInt(a[2]) : 10;
        Random r = new Random(1);
        Fp8Format f = Fp8Format.E4M3;
        byte[] w = new byte[out * in];
        for (int i = 0; i < w.length; i++) w[i] = f.encode((float) (r.nextGaussian() * 100));
        float[] x = new float[in], scratch = new float[in];
        for (int i = 0; i < in; i++) x[i] = (float) r.nextGaussian();
        double sink = 0;
        long bestBits = Long.MAX_VALUE, bestTable = Long.MAX_VALUE, bestInt8 = Long.MAX_VALUE;
        for (int round = 0; round < rounds; round++) {
            long t0 = System.nanoTime();
            for (int o = 0; o < out; o++) sink += Fp8Kernels.dotF8F32(f, w, o * in, x, 0, in);
            long t1 = System.nanoTime();
            for (int o = 0; o < out; o++) sink += Fp8Kernels.dotF8F32Table(f, w, o * in, x, 0, in, scratch);
            long t2 = System.nanoTime();
            for (int o = 0; o < out; o++) sink += Int8Kernels.dotI8F32(w, o * in, x, 0, in);   // int8 W8A16's kernel on the same bytes, for scale
            long t3 = System.nanoTime();
            bestInt8 = Math.min(bestInt8, t3 - t2);
            bestBits = Math.min(bestBits, t1 - t0);
            bestTable = Math.min(bestTable, t2 - t1);
        }
        double n = (double) out * in;
        System.out.printf("%dx%d e4m3, best of %d: bits %.3f ns/weight (%.2f GB/s of codes), table %.3f ns/weight (%.2f GB/s), int8 %.3f ns/weight; sink %s%n",
                out, in, rounds, bestBits / n, n / bestBits, bestTable / n, n / bestTable, bestInt8 / n, sink);
    }
}
