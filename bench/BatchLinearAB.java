import dev.quantflow.engine.compute.Linear;
import dev.quantflow.engine.quant.Int8Linear;
import dev.quantflow.engine.quant.Int4GroupLinear;
import java.util.Random;

/**
 * Times Linear.forward of w8a16 / w4a16-rtn (g128) on one random matrix at several row counts: median
 * ms and GFLOP/s. Run by hand with the java source launcher against an engine jar, alternating the
 * jars of two builds (docs/BENCHMARKS.md, "Load time, memory and batched serving").
 * Arguments: scheme (w8a16|w4a16) out in rows,rows,... repetitions.
 */
public class BatchLinearAB {
    public static void main(String[] a) {
        String scheme = a[0];
        int out = Integer.parseInt(a[1]), in = Integer.parseInt(a[2]), reps = Integer.parseInt(a[4]);
        Random r = new Random(1);
        float[] w = new float[out * in];
        for (int i = 0; i < w.length; i++) w[i] = (float) r.nextGaussian() * 0.02f;
        Linear l = scheme.equals("w8a16") ? Int8Linear.quantize(w, out, in, null) : Int4GroupLinear.rtn(w, out, in, 128, null, "w4a16");
        for (String rs : a[3].split(",")) {
            int rows = Integer.parseInt(rs);
            float[] x = new float[rows * in], y = new float[rows * out];
            for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
            for (int i = 0; i < 3; i++) l.forward(x, rows, y);
            long[] t = new long[reps];
            for (int i = 0; i < reps; i++) { long t0 = System.nanoTime(); l.forward(x, rows, y); t[i] = System.nanoTime() - t0; }
            java.util.Arrays.sort(t);
            double ms = t[reps / 2] / 1e6;
            System.out.printf("%s %dx%d rows %d: median %.2f ms, %.1f GFLOP/s%n", scheme, out, in, rows, ms, 2.0 * out * in * rows / (ms * 1e6));
        }
    }
}
