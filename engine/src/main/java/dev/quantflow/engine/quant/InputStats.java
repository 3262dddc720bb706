package dev.quantflow.engine.quant;

import dev.quantflow.engine.compute.Parallel;
import dev.quantflow.engine.compute.VectorMath;
import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.stream.IntStream;

/**
 * What calibration learns about one linear input (in channels) from the fp32 model on text:
 * per-channel max |x| (SmoothQuant, static scales, outlier channels) and mean |x| (AWQ), optionally
 * the sum of x^T x (GPTQ's Hessian, upper triangle) and a uniform sample of rows (AWQ's search).
 */
public final class InputStats {
    private final int in;
    private final float[] absMax;
    private final double[] absSum;
    private final double[] xtx;       // (in, in) upper triangle, or null
    private final float[] sample;     // (maxSample, in), reservoir
    private final int maxSample;
    private final SplittableRandom random = new SplittableRandom(1234);
    private long rows;
    private int sampled;

    public InputStats(int in, boolean hessian, int maxSample) {
        this.in = in;
        this.absMax = new float[in];
        this.absSum = new double[in];
        this.xtx = hessian ? new double[in * in] : null;
        this.maxSample = maxSample;
        this.sample = new float[maxSample * in];
    }

    public synchronized void record(float[] x, int n) {
        for (int r = 0; r < n; r++) {
            for (int c = 0; c < in; c++) {
                float a = Math.abs(x[r * in + c]);
                if (a > absMax[c]) absMax[c] = a;
                absSum[c] += a;
            }
            long seen = rows + r;
            int slot = seen < maxSample ? (int) seen : (int) random.nextLong(seen + 1);
            if (slot < maxSample) System.arraycopy(x, r * in, sample, slot * in, in);
        }
        rows += n;
        sampled = (int) Math.min(maxSample, rows);
        if (xtx != null) accumulateXtX(x, n);
    }

    private void accumulateXtX(float[] x, int n) {
        float[] xt = new float[in * n];
        for (int r = 0; r < n; r++) for (int c = 0; c < in; c++) xt[c * n + r] = x[r * in + c];
        Parallel.range(in, (long) in * n / 2, (s, e) -> {
            for (int i = s; i < e; i++)
                for (int j = i; j < in; j++) xtx[i * in + j] += VectorMath.dot(xt, i * n, xt, j * n, n);
        });
    }

    public int inFeatures() {
        return in;
    }

    public long rows() {
        return rows;
    }

    public float[] absMax() {
        return absMax.clone();
    }

    public float maxAbs() {
        float m = 0;
        for (float v : absMax) m = Math.max(m, v);
        return m;
    }

    public float[] meanAbs() {
        float[] m = new float[in];
        for (int c = 0; c < in; c++) m[c] = rows == 0 ? 0 : (float) (absSum[c] / rows);
        return m;
    }

    /** H = 2 X^T X / rows, full symmetric (in, in); throws if no Hessian was recorded. */
    public double[] hessian() {
        if (xtx == null) throw new IllegalStateException("calibration did not record a Hessian for this input");
        double[] h = new double[in * in];
        double f = rows == 0 ? 0 : 2.0 / rows;
        for (int i = 0; i < in; i++)
            for (int j = i; j < in; j++) {
                h[i * in + j] = xtx[i * in + j] * f;
                h[j * in + i] = h[i * in + j];
            }
        return h;
    }

    /** The sampled rows (sampleRows(), in). */
    public float[] sample() {
        return Arrays.copyOf(sample, sampled * in);
    }

    public int sampleRows() {
        return sampled;
    }

    /** Input channels whose calibration max |x| reached the threshold, ascending. */
    public int[] channelsAbove(float threshold) {
        return IntStream.range(0, in).filter(c -> absMax[c] >= threshold).toArray();
    }
}
