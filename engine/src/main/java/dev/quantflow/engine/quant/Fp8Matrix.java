package dev.quantflow.engine.quant;

import dev.quantflow.engine.compute.Parallel;
import dev.quantflow.engine.model.Fp8Format;
import dev.quantflow.engine.model.Tensor;
import java.util.Arrays;

/**
 * A (rows, cols) matrix of FP8 codes with one fp32 scale per row (per-channel) or one for all
 * (per-tensor, then every row holds the same scale): w ~ decode(code) * scale, scale = max|w| / max.
 */
public record Fp8Matrix(Fp8Format format, int rows, int cols, byte[] q, float[] scales, boolean perChannel) {

    public Fp8Matrix {
        if (q.length != rows * cols) throw new IllegalArgumentException("codes length " + q.length + " != " + rows + "x" + cols);
        if (scales.length != rows) throw new IllegalArgumentException("need one scale per row (per-tensor: the same one), got " + scales.length);
    }

    public static Fp8Matrix quantize(float[] w, int rows, int cols, Fp8Format f, boolean perChannel) {
        float[] scales = new float[rows];
        if (perChannel) {
            for (int r = 0; r < rows; r++) scales[r] = scaleFor(maxAbs(w, r * cols, cols), f);
        } else {
            Arrays.fill(scales, scaleFor(maxAbs(w, 0, w.length), f));
        }
        byte[] q = new byte[rows * cols];
        for (int r = 0; r < rows; r++) {
            for (int c = r * cols; c < (r + 1) * cols; c++) q[c] = f.encode(w[c] / scales[r]);
        }
        return new Fp8Matrix(f, rows, cols, q, scales, perChannel);
    }

    /**
     * quantize(w.toFloatArray(), ...) streamed from a stored matrix: rows read one at a time on all
     * cores, so a model quantized at load makes no fp32 copy per tensor (whose garbage grew the
     * heap of a 1.1B fp8 load to 3.2 GB). Per tensor, a first pass finds the max.
     */
    public static Fp8Matrix quantize(Tensor w, Fp8Format f, boolean perChannel) {
        int rows = w.rows(), cols = w.cols();
        float[] scales = new float[rows];
        byte[] q = new byte[rows * cols];
        float[] rowMax = new float[rows];
        Parallel.range(rows, 4L * cols, (first, last) -> {
            float[] buf = new float[cols];
            for (int r = first; r < last; r++) {
                w.readFloats((long) r * cols, buf, 0, cols);
                rowMax[r] = maxAbs(buf, 0, cols);
                if (!perChannel) continue;
                scales[r] = scaleFor(rowMax[r], f);
                for (int c = 0; c < cols; c++) q[r * cols + c] = f.encode(buf[c] / scales[r]);
            }
        });
        if (perChannel) return new Fp8Matrix(f, rows, cols, q, scales, true);
        float max = 0f;
        for (float m : rowMax) max = Math.max(max, m);
        Arrays.fill(scales, scaleFor(max, f));
        Parallel.range(rows, 4L * cols, (first, last) -> {
            float[] buf = new float[cols];
            for (int r = first; r < last; r++) {
                w.readFloats((long) r * cols, buf, 0, cols);
                for (int c = 0; c < cols; c++) q[r * cols + c] = f.encode(buf[c] / scales[r]);
            }
        });
        return new Fp8Matrix(f, rows, cols, q, scales, false);
    }

    /**
     * As quantize, but each scale (per row, or the tensor's) minimises sum |w - deq(w)|^2.4 over
     * shrunk ranges p * max|w|, p = 1, 0.99, ... 0.81, stopping after 5 steps without improvement:
     * llm-compressor's "mse" observer with its defaults (maxshrink 0.2, grid 100, norm 2.4, patience 5).
     */
    public static Fp8Matrix quantizeMse(float[] w, int rows, int cols, Fp8Format f, boolean perChannel) {
        float[] scales = new float[rows];
        if (perChannel) {
            for (int r = 0; r < rows; r++) scales[r] = mseScale(w, r * cols, cols, f);
        } else {
            Arrays.fill(scales, mseScale(w, 0, w.length, f));
        }
        byte[] q = new byte[rows * cols];
        for (int r = 0; r < rows; r++) {
            for (int c = r * cols; c < (r + 1) * cols; c++) q[c] = f.encode(w[c] / scales[r]);
        }
        return new Fp8Matrix(f, rows, cols, q, scales, perChannel);
    }

    static final double MSE_NORM = 2.4, MSE_MAX_SHRINK = 0.2, MSE_GRID = 100;
    static final int MSE_PATIENCE = 5;

    static float mseScale(float[] w, int from, int n, Fp8Format f) {
        float max = maxAbs(w, from, n);
        if (max == 0f) return 1f;
        float best = scaleFor(max, f);
        double bestErr = Double.POSITIVE_INFINITY;
        int sinceBest = 0;
        for (int i = 0; i < MSE_MAX_SHRINK * MSE_GRID; i++) {
            float s = scaleFor((float) (max * (1 - i / MSE_GRID)), f);
            double err = 0;
            for (int k = from; k < from + n; k++) err += Math.pow(Math.abs(f.decode(f.encode(w[k] / s)) * s - w[k]), MSE_NORM);
            if (err < bestErr) {
                bestErr = err;
                best = s;
                sinceBest = 0;
            } else if (++sinceBest >= MSE_PATIENCE) {
                break;
            }
        }
        return best;
    }

    /** From a checkpoint's scales: length 1 (per-tensor) or rows (per-channel). */
    public static Fp8Matrix of(Fp8Format f, int rows, int cols, byte[] q, float[] scales) {
        if (scales.length == 1) {
            float[] s = new float[rows];
            Arrays.fill(s, scales[0]);
            return new Fp8Matrix(f, rows, cols, q, s, false);
        }
        return new Fp8Matrix(f, rows, cols, q, scales, true);
    }

    static float scaleFor(float maxAbs, Fp8Format f) {
        return maxAbs == 0f ? 1f : maxAbs / f.max;
    }

    private static float maxAbs(float[] w, int from, int n) {
        float m = 0f;
        for (int i = from; i < from + n; i++) m = Math.max(m, Math.abs(w[i]));
        return m;
    }

    /** The scales as stored: one per row, or the single per-tensor one. */
    public float[] storedScales() {
        return perChannel ? scales : new float[] {scales[0]};
    }

    public float dequantize(int row, int col) {
        return format.decode(q[row * cols + col]) * scales[row];
    }

    public long packedBytes() {
        return (long) rows * cols + 4L * storedScales().length;
    }
}
