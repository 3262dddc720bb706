package dev.quantflow.engine.compute;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorSpecies;

/**
 * The register tiles behind DenseLinear, over weights packed in panels: P = 2 vectors' worth of
 * output rows stored k-major, so that step k of a panel is P contiguous weights W[o0..o0+P)[k].
 * A tile broadcasts x[r][k] and multiply-adds it into P outputs at once (an outer product), so
 * nothing is reduced across lanes at the end and each weight vector load feeds one multiply-add
 * per row of the tile.
 *
 * <p>Every output is summed in one canonical order, whichever tile computes it: its own lane of
 * an accumulator, fma over k = 0, 1, ..., in - 1, then the bias added. A row's result thus never
 * depends on the rows batched with it, on the tile, on the thread split, or on whether the JIT
 * has compiled the code yet.
 *
 * <p>Why this shape and not dot products along the weight rows: the dot-product tile had to
 * reduce 8 accumulators across lanes and C2 unrolled its loop so far that it spilled the x
 * vectors to the stack (19-39 GFLOP/s on one core); this loop has one broadcast and one FMA per
 * accumulator and runs at 55-80 GFLOP/s at 8 rows (in=512..1408, Zen 3, AVX2).
 */
final class PanelKernels {
    static final VectorSpecies<Float> F = VectorMath.F;
    static final int L = F.length();
    /** Output rows per panel. */
    static final int P = 2 * L;
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    /** The start of every chain at k = 0 (read only). */
    private static final float[] ZEROS = new float[P];

    private PanelKernels() {}

    private static FloatVector f32(MemorySegment w, long byteOff) {
        return FloatVector.fromMemorySegment(F, w, byteOff, LE);
    }

    /**
     * Columns per k-block of {@link #panel}: P x 1024 f32 (128 KiB at P = 32) stay in L2 while
     * every x row passes. Unblocked, a panel of in = 5632 (720 KiB at P = 32) was streamed from
     * L3 once per four x rows: fp32 2048x5632 ran at 25-29 GFLOP/s per CPU-second, 2048x2048 at 99.
     */
    static final int K_BLOCK = 1024;

    /**
     * All rows of x (in apart) times the F32 panel at byte base: y rows get the panel's n outputs
     * starting at o, plus bias b. k is cut into blocks of about K_BLOCK; between blocks each
     * output's partial sum waits in y, so the sum is the same fma chain over k as unblocked.
     */
    static void panel(MemorySegment w, long base, int in, float[] x, int rows, float[] y, int out, float[] b, int o, int n) {
        int blocks = (in + K_BLOCK - 1) / K_BLOCK, kc = (in + blocks - 1) / blocks;
        for (int k0 = 0; k0 < in; k0 += kc) {
            int k1 = Math.min(in, k0 + kc);
            for (int r = 0; r < rows; r += 4) rows(w, base, k0, k1, in, x, r * in, Math.min(4, rows - r), y, r * out + o, out, b, o, n);
        }
    }

    /** rows over all of k. */
    static void rows(MemorySegment w, long base, int in, float[] x, int xo, int rows, float[] y, int yo, int out, float[] b, int o, int n) {
        rows(w, base, 0, in, in, x, xo, rows, y, yo, out, b, o, n);
    }

    /**
     * Up to four rows of x (starting at xo, in apart) times columns [k0, k1) of the F32 panel at
     * byte base: y rows yo, yo + out, ... get the panel's n (<= P) outputs starting at o; they
     * start from zero at k0 = 0 (else from the partial sums in y) and get bias b (padded to whole
     * panels) at k1 = in. With fewer than four rows the missing ones repeat the last real row and
     * are not stored: the eight independent accumulators still keep the FMA pipes busy, where one
     * row's two chains would wait on the FMA latency.
     */
    static void rows(MemorySegment w, long base, int k0, int k1, int in, float[] x, int xo, int rows, float[] y, int yo, int out, float[] b, int o, int n) {
        // The chains start from y's partial sums after the first k-block and from zero before it, loaded the same
        // way for every row count and block: no branch picks an accumulator's start. With one (zero or a load, per
        // row), C2 kept the accumulators boxed through the loop: every fma allocated a Float512Vector (~4 GB/s of
        // garbage and a GC every ~80 ms at 16-row serving steps, batched steps 50-100x slower than decode; JFR).
        float[] s = k0 > 0 ? y : ZEROS;
        int s0 = k0 > 0 ? yo : 0, ss = k0 > 0 ? out : 0;
        int s1 = rows > 1 ? s0 + ss : s0, s2 = rows > 2 ? s0 + 2 * ss : s1, s3 = rows > 3 ? s0 + 3 * ss : s2;
        VectorMask<Float> m0 = F.indexInRange(0, n), m1 = F.indexInRange(L, n);
        FloatVector a00 = FloatVector.fromArray(F, s, s0, m0), a01 = FloatVector.fromArray(F, s, s0 + L, m1);
        FloatVector a10 = FloatVector.fromArray(F, s, s1, m0), a11 = FloatVector.fromArray(F, s, s1 + L, m1);
        FloatVector a20 = FloatVector.fromArray(F, s, s2, m0), a21 = FloatVector.fromArray(F, s, s2 + L, m1);
        FloatVector a30 = FloatVector.fromArray(F, s, s3, m0), a31 = FloatVector.fromArray(F, s, s3 + L, m1);
        int x1 = rows > 1 ? xo + in : xo, x2 = rows > 2 ? xo + 2 * in : x1, x3 = rows > 3 ? xo + 3 * in : x2;
        long step = 4L * P, half = 4L * L;
        for (int k = k0; k < k1; k++) {
            long q = base + step * k;
            FloatVector w0 = f32(w, q), w1 = f32(w, q + half);
            FloatVector xb = FloatVector.broadcast(F, x[xo + k]);
            a00 = w0.fma(xb, a00);
            a01 = w1.fma(xb, a01);
            xb = FloatVector.broadcast(F, x[x1 + k]);
            a10 = w0.fma(xb, a10);
            a11 = w1.fma(xb, a11);
            xb = FloatVector.broadcast(F, x[x2 + k]);
            a20 = w0.fma(xb, a20);
            a21 = w1.fma(xb, a21);
            xb = FloatVector.broadcast(F, x[x3 + k]);
            a30 = w0.fma(xb, a30);
            a31 = w1.fma(xb, a31);
        }
        float[] bias = k1 == in ? b : null;
        store(a00, a01, bias, o, y, yo, n);
        if (rows > 1) store(a10, a11, bias, o, y, yo + out, n);
        if (rows > 2) store(a20, a21, bias, o, y, yo + 2 * out, n);
        if (rows > 3) store(a30, a31, bias, o, y, yo + 3 * out, n);
    }

    /**
     * One chain of PanelMatmul.forwardChained for up to four rows: the fma chain over panel steps
     * [b0, b1) from byte base (from zero at b0 = 0, else from acc), x[xo + b] (rows xstride
     * apart) broadcast at step b;
     * row r's two accumulators go to acc[ao + r * rowStride ..] (P floats). Missing rows repeat
     * the last real one (computed, not stored), as in rows.
     */
    static void chain(MemorySegment w, long base, int b0, int b1, float[] x, int xo, int xstride, int rows, float[] acc, int ao, int rowStride) {
        // every chain starts from a load (acc's partial sums, or the zero panel at b0 = 0), as in rows: a branch
        // between a zero and a load keeps the accumulators boxed through the loop
        float[] s = b0 > 0 ? acc : ZEROS;
        int s0 = b0 > 0 ? ao : 0, ss = b0 > 0 ? rowStride : 0;
        int s1 = rows > 1 ? s0 + ss : s0, s2 = rows > 2 ? s0 + 2 * ss : s1, s3 = rows > 3 ? s0 + 3 * ss : s2;
        FloatVector a00 = FloatVector.fromArray(F, s, s0), a01 = FloatVector.fromArray(F, s, s0 + L);
        FloatVector a10 = FloatVector.fromArray(F, s, s1), a11 = FloatVector.fromArray(F, s, s1 + L);
        FloatVector a20 = FloatVector.fromArray(F, s, s2), a21 = FloatVector.fromArray(F, s, s2 + L);
        FloatVector a30 = FloatVector.fromArray(F, s, s3), a31 = FloatVector.fromArray(F, s, s3 + L);
        int x1 = rows > 1 ? xo + xstride : xo, x2 = rows > 2 ? xo + 2 * xstride : x1, x3 = rows > 3 ? xo + 3 * xstride : x2;
        long step = 4L * P, half = 4L * L;
        for (int b = b0; b < b1; b++) {
            long q = base + step * b;
            FloatVector w0 = f32(w, q), w1 = f32(w, q + half);
            FloatVector xb = FloatVector.broadcast(F, x[xo + b]);
            a00 = w0.fma(xb, a00);
            a01 = w1.fma(xb, a01);
            xb = FloatVector.broadcast(F, x[x1 + b]);
            a10 = w0.fma(xb, a10);
            a11 = w1.fma(xb, a11);
            xb = FloatVector.broadcast(F, x[x2 + b]);
            a20 = w0.fma(xb, a20);
            a21 = w1.fma(xb, a21);
            xb = FloatVector.broadcast(F, x[x3 + b]);
            a30 = w0.fma(xb, a30);
            a31 = w1.fma(xb, a31);
        }
        a00.intoArray(acc, ao);
        a01.intoArray(acc, ao + L);
        if (rows > 1) { a10.intoArray(acc, ao + rowStride); a11.intoArray(acc, ao + rowStride + L); }
        if (rows > 2) { a20.intoArray(acc, ao + 2 * rowStride); a21.intoArray(acc, ao + 2 * rowStride + L); }
        if (rows > 3) { a30.intoArray(acc, ao + 3 * rowStride); a31.intoArray(acc, ao + 3 * rowStride + L); }
    }

    /** chain from zero over all steps for 5 to 8 rows (16 accumulators: 512-bit species only). */
    static void chain8(MemorySegment w, long base, int steps, float[] x, int xo, int xstride, int rows, float[] acc, int ao, int rowStride) {
        FloatVector z = FloatVector.zero(F);
        FloatVector a00 = z, a01 = z, a10 = z, a11 = z, a20 = z, a21 = z, a30 = z, a31 = z;
        FloatVector a40 = z, a41 = z, a50 = z, a51 = z, a60 = z, a61 = z, a70 = z, a71 = z;
        int x1 = xo + xstride, x2 = x1 + xstride, x3 = x2 + xstride, x4 = x3 + xstride;
        int x5 = rows > 5 ? x4 + xstride : x4, x6 = rows > 6 ? x5 + xstride : x5, x7 = rows > 7 ? x6 + xstride : x6;
        long step = 4L * P, half = 4L * L;
        for (int b = 0; b < steps; b++) {
            long q = base + step * b;
            FloatVector w0 = f32(w, q), w1 = f32(w, q + half);
            FloatVector xb = FloatVector.broadcast(F, x[xo + b]);
            a00 = w0.fma(xb, a00);
            a01 = w1.fma(xb, a01);
            xb = FloatVector.broadcast(F, x[x1 + b]);
            a10 = w0.fma(xb, a10);
            a11 = w1.fma(xb, a11);
            xb = FloatVector.broadcast(F, x[x2 + b]);
            a20 = w0.fma(xb, a20);
            a21 = w1.fma(xb, a21);
            xb = FloatVector.broadcast(F, x[x3 + b]);
            a30 = w0.fma(xb, a30);
            a31 = w1.fma(xb, a31);
            xb = FloatVector.broadcast(F, x[x4 + b]);
            a40 = w0.fma(xb, a40);
            a41 = w1.fma(xb, a41);
            xb = FloatVector.broadcast(F, x[x5 + b]);
            a50 = w0.fma(xb, a50);
            a51 = w1.fma(xb, a51);
            xb = FloatVector.broadcast(F, x[x6 + b]);
            a60 = w0.fma(xb, a60);
            a61 = w1.fma(xb, a61);
            xb = FloatVector.broadcast(F, x[x7 + b]);
            a70 = w0.fma(xb, a70);
            a71 = w1.fma(xb, a71);
        }
        a00.intoArray(acc, ao);
        a01.intoArray(acc, ao + L);
        a10.intoArray(acc, ao + rowStride);
        a11.intoArray(acc, ao + rowStride + L);
        a20.intoArray(acc, ao + 2 * rowStride);
        a21.intoArray(acc, ao + 2 * rowStride + L);
        a30.intoArray(acc, ao + 3 * rowStride);
        a31.intoArray(acc, ao + 3 * rowStride + L);
        a40.intoArray(acc, ao + 4 * rowStride);
        a41.intoArray(acc, ao + 4 * rowStride + L);
        if (rows > 5) { a50.intoArray(acc, ao + 5 * rowStride); a51.intoArray(acc, ao + 5 * rowStride + L); }
        if (rows > 6) { a60.intoArray(acc, ao + 6 * rowStride); a61.intoArray(acc, ao + 6 * rowStride + L); }
        if (rows > 7) { a70.intoArray(acc, ao + 7 * rowStride); a71.intoArray(acc, ao + 7 * rowStride + L); }
    }

    /**
     * The end of a segment of PanelMatmul.forwardChained for up to four rows: row r's chains (at
     * acc[r * chains * P + m * P ..]) added as the one-row kernel reduces its lanes (4L chains:
     * (c0 + c1) + (c2 + c3) lane-wise first; then VectorMath.sumLanes' tree: chain l + chain
     * l + h for h = L/2, ..., 1), plus the plain sum of the tail columns [full, cols) (at panel steps from tailAt), into
     * the running sum in y (from zero at the first segment); at the last segment y = bias +
     * scale * sum. Only the panel's n outputs starting at o (y[yo ..]) are touched.
     */
    static void combine(MemorySegment w, int tailAt, int full, int cols, float[] x, int xo, int xstride, int rows, float[] acc, int ao, int chains,
                        float[] y, int yo, int out, int n, boolean first, boolean last, float[] scale, float[] bias, int o) {
        FloatVector z = FloatVector.zero(F);
        for (int r = 0; r < rows; r++)
            for (int h = 0; h < 2 && h * L < n; h++) {
                int a = ao + r * chains * P + h * L;
                if (chains == 4 * L)
                    for (int l = 0; l < L; l++) {
                        FloatVector c0 = FloatVector.fromArray(F, acc, a + l * P), c1 = FloatVector.fromArray(F, acc, a + (L + l) * P);
                        FloatVector c2 = FloatVector.fromArray(F, acc, a + (2 * L + l) * P), c3 = FloatVector.fromArray(F, acc, a + (3 * L + l) * P);
                        c0.add(c1).add(c2.add(c3)).intoArray(acc, a + l * P);
                    }
                for (int s = L / 2; s >= 1; s /= 2)
                    for (int l = 0; l < s; l++)
                        FloatVector.fromArray(F, acc, a + l * P).add(FloatVector.fromArray(F, acc, a + (l + s) * P)).intoArray(acc, a + l * P);
                FloatVector sum = first ? z : load(y, yo + r * out, n, h);
                sum = sum.add(FloatVector.fromArray(F, acc, a));
                if (cols > full) {
                    FloatVector t = z;
                    for (int k = full; k < cols; k++)
                        t = t.add(f32(w, 4L * ((tailAt + k - full) * P + h * L)).mul(x[xo + r * xstride + k]));
                    sum = sum.add(t);
                }
                if (last) {
                    var m = F.indexInRange(h * L, n);
                    FloatVector b = bias == null ? z : FloatVector.fromArray(F, bias, o + h * L, m);
                    sum = b.add(scale == null ? sum : FloatVector.fromArray(F, scale, o + h * L, m).mul(sum));
                }
                if (n == P) sum.intoArray(y, yo + r * out + h * L);
                else sum.intoArray(y, yo + r * out + h * L, F.indexInRange(h * L, n));
            }
    }

    /** Half h (0: lanes 0..L, 1: L..P) of the n partial sums at y[yo..]. */
    private static FloatVector load(float[] y, int yo, int n, int h) {
        if (n == P) return FloatVector.fromArray(F, y, yo + h * L);
        return FloatVector.fromArray(F, y, yo + h * L, F.indexInRange(h * L, n));
    }

    /**
     * One row times two consecutive F32 panels (the decode tile: four accumulators, two weight
     * streams). The second panel holds n2 outputs.
     */
    static void row1x2(MemorySegment w, long base, int in, float[] x, float[] y, float[] b, int o, int n2) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        long step = 4L * P, half = 4L * L, next = step * in;
        for (int k = 0; k < in; k++) {
            long q = base + step * k;
            FloatVector xb = FloatVector.broadcast(F, x[k]);
            a0 = f32(w, q).fma(xb, a0);
            a1 = f32(w, q + half).fma(xb, a1);
            a2 = f32(w, q + next).fma(xb, a2);
            a3 = f32(w, q + next + half).fma(xb, a3);
        }
        store(a0, a1, b, o, y, o, P);
        store(a2, a3, b, o + P, y, o + P, n2);
    }

    /** row1 over a BF16 panel, widened in registers (single-stream decode reads 2 bytes a weight). */
    static void row1BF16(MemorySegment w, long base, int in, float[] x, float[] y, float[] b, int o, int n) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0;
        long step = 2L * P, half = 2L * L;
        for (int k = 0; k < in; k++) {
            long q = base + step * k;
            FloatVector xb = FloatVector.broadcast(F, x[k]);
            a0 = VectorMath.bf16(w, q).fma(xb, a0);
            a1 = VectorMath.bf16(w, q + half).fma(xb, a1);
        }
        store(a0, a1, b, o, y, o, n);
    }

    /** row1x2 over BF16 panels. */
    static void row1x2BF16(MemorySegment w, long base, int in, float[] x, float[] y, float[] b, int o, int n2) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        long step = 2L * P, half = 2L * L, next = step * in;
        for (int k = 0; k < in; k++) {
            long q = base + step * k;
            FloatVector xb = FloatVector.broadcast(F, x[k]);
            a0 = VectorMath.bf16(w, q).fma(xb, a0);
            a1 = VectorMath.bf16(w, q + half).fma(xb, a1);
            a2 = VectorMath.bf16(w, q + next).fma(xb, a2);
            a3 = VectorMath.bf16(w, q + next + half).fma(xb, a3);
        }
        store(a0, a1, b, o, y, o, P);
        store(a2, a3, b, o + P, y, o + P, n2);
    }

    /** y[yo + j] = acc lane j + b[o + j] (b null: the bare sum) for the panel's n valid outputs. */
    private static void store(FloatVector lo, FloatVector hi, float[] b, int o, float[] y, int yo, int n) {
        if (n == P) {
            if (b != null) {
                lo = lo.add(FloatVector.fromArray(F, b, o));
                hi = hi.add(FloatVector.fromArray(F, b, o + L));
            }
            lo.intoArray(y, yo);
            hi.intoArray(y, yo + L);
            return;
        }
        for (int j = 0; j < n; j++) y[yo + j] = (j < L ? lo.lane(j) : hi.lane(j - L)) + (b == null ? 0f : b[o + j]);
    }
}
