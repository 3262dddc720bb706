package dev.quantflow.engine.quant;

import dev.quantflow.engine.compute.Int8Kernels;
import dev.quantflow.engine.compute.Parallel;

/**
 * Dynamic per-token activation quantization: each row of x (rows, in), or each group of a row,
 * gets its own symmetric int8 scale max|x|/127, computed at run time (ZeroQuant, LLM.int8()).
 */
public record ActivationQuant(byte[] q, float[] scales, GroupLayout layout) {

    public static ActivationQuant quantize(float[] x, int rows, GroupLayout g) {
        int in = g.cols(), ng = g.groups();
        byte[] q = new byte[rows * in];
        float[] s = new float[rows * ng];
        for (int r = 0; r < rows; r++) {
            for (int k = 0; k < ng; k++) {
                int from = r * in + g.start(k), n = g.end(k) - g.start(k);
                float m = Int8Kernels.maxAbs(x, from, n);
                float scale = m == 0f ? 1f : m / 127f;
                s[r * ng + k] = scale;
                Int8Kernels.quantizeSym(x, from, n, scale, q, from);
            }
        }
        return new ActivationQuant(q, s, g);
    }

    /**
     * y[r, o] = sum_g xs[r,g] * ws[o,g] * (xq[r, g] . wq[o, g]) (+ bias): the int8 x int8 -> int32
     * matmul with the scales applied once per group to the int32 sums. Weights share the layout
     * and are symmetric int8. For a batch, four weight rows are taken at a time for every
     * activation row: their 4 x in bytes stay in L1 while the rows pass, and each activation load
     * serves four weight rows (1.1-1.8x the row-at-a-time loop at 16 rows). One row (decode) reads
     * the weights as one stream, a row at a time: the four-row tile, whose four streams were
     * 0.55-0.8x as fast there in JMH (the int32 loop is cheap enough that the access pattern decides).
     * 2..MAX_TILED_ROWS rows take matmulRows (float FMAs over exact integer chains).
     */
    public void matmul(QuantizedMatrix w, int rows, float[] bias, float[] y) {
        matmul(w, rows, bias, y, MAX_TILED_ROWS);
    }

    /**
     * The most rows matmulRows takes; more go to the int32 tile (QuantKernelAB 2048x5632, one
     * thread: docs/BENCHMARKS.md "Multi-row Q8_0 and W8A8 decode (h-q8rows)").
     */
    static final int MAX_TILED_ROWS = 16;

    /**
     * The shortest groups matmulRows takes: each group ends in a lane sum per chain (24 per four
     * weight rows), which short groups do not amortize. w8a8-dynamic:group=32 on 2048x5632, one
     * thread, new/old: 0.60x at 2 rows, 0.91x at 8, 0.98x at 16; per channel (5632) 1.1-1.6x.
     */
    static final int MIN_TILED_GROUP = 1024;

    /** matmul with the float row tiles up to tiledRows rows (MAX_TILED_ROWS; 1: the batched path before them, which benchmarks compare against). */
    public void matmul(QuantizedMatrix w, int rows, float[] bias, float[] y, int tiledRows) {
        if (w.range() != IntRange.INT8_SYM) throw new IllegalArgumentException("the int8 matmul needs symmetric int8 weights, got " + w.range());
        if (rows > 1 && rows <= tiledRows && layout.groupSize() >= MIN_TILED_GROUP) {
            matmulRows(w, rows, bias, y);
            return;
        }
        int in = layout.cols(), out = w.rows(), ng = layout.groups();
        byte[] wq = w.q();
        float[] ws = w.scales();
        Parallel.range(out, (long) in * rows, (start, end) -> {
            int[] dots = new int[4];
            for (int o = start; o < end; o += 4) {
                int n = Math.min(4, end - o);
                for (int r = 0; r < rows; r++) {
                    float a0 = 0f, a1 = 0f, a2 = 0f, a3 = 0f;
                    for (int k = 0; k < ng; k++) {
                        int s = layout.start(k), len = layout.end(k) - s;
                        float xs = scales[r * ng + k];
                        if (n == 4 && rows > 1) {
                            Int8Kernels.dotI8x4(q, r * in + s, wq, o * in + s, in, len, dots, 0);
                        } else {
                            for (int j = 0; j < n; j++) dots[j] = Int8Kernels.dotI8(q, r * in + s, wq, (o + j) * in + s, len);
                        }
                        a0 += dots[0] * (xs * ws[o * ng + k]);
                        if (n > 1) a1 += dots[1] * (xs * ws[(o + 1) * ng + k]);
                        if (n > 2) a2 += dots[2] * (xs * ws[(o + 2) * ng + k]);
                        if (n > 3) a3 += dots[3] * (xs * ws[(o + 3) * ng + k]);
                    }
                    float[] acc = {a0, a1, a2, a3};
                    for (int j = 0; j < n; j++) y[r * out + o + j] = (bias == null ? 0f : bias[o + j]) + acc[j];
                }
            }
        });
    }

    /**
     * A few rows (the decode steps of several sequences): four weight rows at a time, each group's
     * integer dots for all rows from Int8Kernels.dotI8x4Rows (the codes as floats, each weight
     * vector widened once per tile of rows), then scaled and summed as matmul does: the same
     * integers and the same float steps, so every row's bits equal its one-row result.
     */
    private void matmulRows(QuantizedMatrix w, int rows, float[] bias, float[] y) {
        int in = layout.cols(), out = w.rows(), ng = layout.groups();
        byte[] wq = w.q();
        float[] ws = w.scales(), xf = new float[rows * in];
        for (int i = 0; i < xf.length; i++) xf[i] = q[i];
        Parallel.range(out, (long) in * rows, (start, end) -> {
            int[] dots = new int[rows * 4];
            float[] acc = new float[rows * 4], chains = Int8Kernels.rowsScratch();
            for (int o = start; o < end; o += 4) {
                int n = Math.min(4, end - o);
                java.util.Arrays.fill(acc, 0f);
                for (int k = 0; k < ng; k++) {
                    int s = layout.start(k), len = layout.end(k) - s;
                    if (n == 4) Int8Kernels.dotI8x4Rows(wq, o * in + s, in, xf, s, in, rows, len, dots, 0, 4, chains);
                    else
                        for (int r = 0; r < rows; r++)
                            for (int j = 0; j < n; j++) dots[r * 4 + j] = Int8Kernels.dotI8(q, r * in + s, wq, (o + j) * in + s, len);
                    for (int r = 0; r < rows; r++) {
                        float xs = scales[r * ng + k];
                        for (int j = 0; j < n; j++) acc[r * 4 + j] += dots[r * 4 + j] * (xs * ws[(o + j) * ng + k]);
                    }
                }
                for (int r = 0; r < rows; r++)
                    for (int j = 0; j < n; j++) y[r * out + o + j] = (bias == null ? 0f : bias[o + j]) + acc[r * 4 + j];
            }
        });
    }
}
