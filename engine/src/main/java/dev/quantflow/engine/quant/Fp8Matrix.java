package dev.quantflow.engine.quant;

import dev.quantflow.engine.model.Fp8Format;
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
