package dev.quantflow.engine.compute;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * The batched (rows >= 2) matmul of every weight format that is not stored as fp32/bf16 panels
 * (the int8 and int4 schemes, the GGUF block types): a panel of {@link PanelKernels#P} weight
 * rows is dequantized once per call into fp32, transposed into the panel layout (k-major) in a
 * per-thread native scratch that stays in L2, and every x row passes over it in DenseLinear's
 * register tile ({@link PanelKernels#panel}), so quantized prefill runs on the dense GEMM's
 * microkernel. Why not a dot-product tile over the row-major dequantized rows (what these
 * formats ran before): it reduced lanes per output and ran at 31-48 GFLOP/s per CPU-second
 * where the panel tile runs at 95-105 on the same core (docs/BENCHMARKS.md, "Batched quantized
 * matmuls on the dense panel kernel"). The transpose runs in registers (see transpose).
 */
public final class PanelMatmul {
    private static final int P = PanelKernels.P, L = PanelKernels.L;
    private static final VectorSpecies<Float> F = PanelKernels.F;
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    private static final ThreadLocal<float[][]> TILE = ThreadLocal.withInitial(() -> new float[1][0]);

    private PanelMatmul() {}

    /** Dequantizes weight row o (all in columns, or more: stride floats are free) into dst[off..]. */
    @FunctionalInterface
    public interface RowDecoder {
        void decode(int o, float[] dst, int off);
    }

    /**
     * y[r * out + o] = W row o . x row r (+ bias[o]) for r < rows, o < out, with W's rows given by
     * decoder; each dequantized row is stride >= in floats apart in the tile (a decoder may write
     * padding columns up to stride; only the first in are used).
     */
    public static void forward(int out, int in, int stride, RowDecoder decoder, float[] bias, float[] x, int rows, float[] y) {
        if (stride < in) throw new IllegalArgumentException("stride " + stride + " < in " + in);
        int panels = (out + P - 1) / P;
        float[] b = new float[panels * P];
        if (bias != null) System.arraycopy(bias, 0, b, 0, out);
        Parallel.range(panels, (long) P * in * rows, (start, end) -> {
            float[] tile = tile(P * stride);
            MemorySegment panel = KernelMemory.scratch(4L * P * in);
            for (int p = start; p < end; p++) {
                int o = p * P, n = Math.min(P, out - o);
                for (int j = 0; j < n; j++) decoder.decode(o + j, tile, j * stride);
                if (n < P) java.util.Arrays.fill(tile, n * stride, P * stride, 0f);
                transpose(tile, stride, in, panel);
                PanelKernels.panel(panel, 0, in, x, rows, y, out, b, o, n);
            }
        });
    }

    /**
     * The batched matmul of a format whose one-row kernel sums in lane order, bit for bit as that
     * kernel does, so a row's output never depends on its batch: the columns are cut into
     * segments of segment columns (the last may be shorter); in a segment of n columns, chain m
     * (m < chains, chains = L or 4L) is the fma chain from zero over columns m, m + chains, ...
     * (n / chains of them: lane m of the one-row kernel's accumulator, or lane m % L of its
     * accumulator m / L); the chains are added as the one-row kernel reduces its lanes (PanelKernels.combine), then the n % chains
     * tail columns' plain sum (mul, add, from zero) is added; the segments' results add up from
     * zero, and y = bias + scale * sum (scale null: 1, bias null: 0). Only outputs [0, outputs) of
     * the out per y row are written. The panel tile runs as in forward, with each panel's columns
     * stored chain by chain (the transpose puts them there for free) and x permuted alike once
     * per call, so every chain is a contiguous stretch of the register tile's k loop.
     */
    public static void forwardChained(int outputs, int out, int in, int segment, int chains, RowDecoder decoder, float[] scale, float[] bias, float[] x, int rows, float[] y) {
        if (chains != L && chains != 4 * L) throw new IllegalArgumentException("chains " + chains + " is neither L nor 4L");
        if (segment % chains != 0) throw new IllegalArgumentException("segment " + segment + " is not a multiple of " + chains);
        float[] xs = new float[rows * in];
        for (int r = 0; r < rows; r++)
            for (int s0 = 0; s0 < in; s0 += segment) {
                int n = Math.min(segment, in - s0), steps = n / chains, full = steps * chains, base = r * in + s0;
                for (int m = 0; m < chains; m++) for (int b = 0; b < steps; b++) xs[base + m * steps + b] = x[base + b * chains + m];
                System.arraycopy(x, base + full, xs, base + full, n - full);
            }
        int panels = (outputs + P - 1) / P;
        Parallel.range(panels, (long) P * in * rows, (start, end) -> {
            float[] tile = tile(P * in);
            float[] acc = new float[TILE_ROWS * chains * P];
            MemorySegment panel = KernelMemory.scratch(4L * P * (Math.min(in, segment) + 4 * L));
            for (int p = start; p < end; p++) {
                int o = p * P, n = Math.min(P, outputs - o);
                for (int j = 0; j < n; j++) decoder.decode(o + j, tile, j * in);
                if (n < P) java.util.Arrays.fill(tile, n * in, P * in, 0f);
                for (int s0 = 0; s0 < in; s0 += segment) {
                    int cols = Math.min(segment, in - s0), steps = cols / chains;
                    transposeChained(tile, in, s0, cols, chains, steps, panel);
                    for (int r = 0; r < rows; r += TILE_ROWS) {
                        int rr = Math.min(TILE_ROWS, rows - r);
                        for (int m = 0; m < chains; m++) {
                            if (rr > 4) PanelKernels.chain8(panel, 4L * P * m * (steps + 1), steps, xs, r * in + s0 + m * steps, in, rr, acc, m * P, chains * P);
                            else PanelKernels.chain(panel, 4L * P * m * (steps + 1), 0, steps, xs, r * in + s0 + m * steps, in, rr, acc, m * P, chains * P);
                        }
                        if (steps == 0) java.util.Arrays.fill(acc, 0f);
                        for (int t = 0; t < rr; t += 4)
                            PanelKernels.combine(panel, chains * (steps + 1), steps * chains, cols, xs, (r + t) * in + s0, in, Math.min(4, rr - t), acc, t * chains * P, chains,
                                    y, (r + t) * out + o, out, n, s0 == 0, s0 + cols == in, scale, bias, o);
                    }
                }
            }
        });
    }

    /**
     * The one-row kernel of forwardChained over a dequantized fp32 row (one segment of all in
     * columns, 4L chains): sum_i w[wo + i] * x[xo + i] in exactly the batched tile's order.
     */
    public static float chainDot(float[] w, int wo, float[] x, int xo, int n) {
        FloatVector s0 = FloatVector.zero(F), s1 = s0, s2 = s0, s3 = s0;
        int full = n / (4 * L) * (4 * L), i = 0;
        for (; i < full; i += 4 * L) {
            s0 = FloatVector.fromArray(F, w, wo + i).fma(FloatVector.fromArray(F, x, xo + i), s0);
            s1 = FloatVector.fromArray(F, w, wo + i + L).fma(FloatVector.fromArray(F, x, xo + i + L), s1);
            s2 = FloatVector.fromArray(F, w, wo + i + 2 * L).fma(FloatVector.fromArray(F, x, xo + i + 2 * L), s2);
            s3 = FloatVector.fromArray(F, w, wo + i + 3 * L).fma(FloatVector.fromArray(F, x, xo + i + 3 * L), s3);
        }
        float sum = 0f + VectorMath.sumLanes(s0.add(s1).add(s2.add(s3)));
        if (full == n) return sum;
        float t = 0f;
        for (; i < n; i++) t += w[wo + i] * x[xo + i];
        return sum + t;
    }

    /**
     * Columns [s0, s0 + cols) of the P tile rows (stride apart) into the panel chain by chain:
     * column c (segment-relative) below steps * chains at panel step (c % chains) * (steps + 1) +
     * c / chains, the tail columns after all chains. chains is L or 4L, so the L columns of a block
     * land steps + 1 panel steps apart: the spare step keeps the L stores of a transposed block
     * off one L1 set (steps * 4P bytes is a multiple of 4 KiB: 16 stores to one 8-way set).
     */
    private static void transposeChained(float[] tile, int stride, int s0, int cols, int chains, int steps, MemorySegment panel) {
        int full = steps * chains, blocks = L == 16 || L == 8 ? full : 0, gap = steps + 1;
        for (int jb = 0; jb < P && blocks > 0; jb += L)
            for (int k = 0; k < blocks; k += L) {
                int first = (k % chains) * gap + k / chains;
                if (L == 16) block16(tile, jb * stride + s0 + k, stride, panel, 4L * (first * P + jb), 4L * P * gap);
                else block8(tile, jb * stride + s0 + k, stride, panel, 4L * (first * P + jb), 4L * P * gap);
            }
        for (int k = blocks; k < cols; k++) {
            int at = k < full ? (k % chains) * gap + k / chains : chains * gap + k - full;
            for (int j = 0; j < P; j++) panel.set(KernelMemory.F32, 4L * (at * P + j), tile[j * stride + s0 + k]);
        }
    }

    /**
     * Rows per tile of forwardChained's chains: eight with 32 vector registers (16 accumulators;
     * the chains are only steps = 2048 / L long, and four rows' calls cost 0.8x the panel tile
     * at 128 rows), four with 16 (AVX2).
     */
    private static final int TILE_ROWS = L >= 16 ? 8 : 4;

    // the transpose's butterflies: stage h swaps bit h of the vector index with bit h of the lane
    private static final VectorShuffle<Float> X1 = xor(1), X2 = xor(2), X4 = xor(4), X8 = xor(8);
    private static final VectorMask<Float> M1 = bit(1, true), M2 = bit(2, true), M4 = bit(4, true), M8 = bit(8, true);
    private static final VectorMask<Float> N1 = bit(1, false), N2 = bit(2, false), N4 = bit(4, false), N8 = bit(8, false);

    private static VectorShuffle<Float> xor(int h) {
        return VectorShuffle.fromOp(F, i -> h < L ? i ^ h : i);
    }

    private static VectorMask<Float> bit(int h, boolean set) {
        boolean[] m = new boolean[L];
        for (int i = 0; i < L; i++) m[i] = ((i & h) != 0) == set;
        return VectorMask.fromArray(F, m, 0);
    }

    /**
     * panel[k * P + j] = tile[j * stride + k] for j < P, k < in (little-endian f32): L x L blocks
     * transposed in registers (log2 L butterfly stages of a permute and a blend per vector), the
     * in % L last columns one by one. A gather per column (vgatherdps) was slower than a scalar
     * copy on Zen 4, and the scalar copy cost more than the 16-row matmul itself.
     */
    private static void transpose(float[] tile, int stride, int in, MemorySegment panel) {
        int full = L == 16 || L == 8 ? in / L * L : 0;
        for (int jb = 0; jb < P; jb += L)
            for (int k = 0; k < full; k += L) {
                if (L == 16) block16(tile, jb * stride + k, stride, panel, 4L * (k * P + jb), 4L * P);
                else block8(tile, jb * stride + k, stride, panel, 4L * (k * P + jb), 4L * P);
            }
        for (int j = 0; j < P; j++)
            for (int k = full; k < in; k++) panel.set(KernelMemory.F32, 4L * (k * P + j), tile[j * stride + k]);
    }

    private static FloatVector f(float[] t, int o) {
        return FloatVector.fromArray(F, t, o);
    }

    /** The 16 x 16 block at t[o..] (rows stride apart) into 16 panel steps from byte at, step bytes apart. */
    private static void block16(float[] t, int o, int stride, MemorySegment panel, long at, long step) {
            FloatVector v0 = f(t, o), v1 = f(t, o + 1 * stride), v2 = f(t, o + 2 * stride), v3 = f(t, o + 3 * stride), v4 = f(t, o + 4 * stride), v5 = f(t, o + 5 * stride), v6 = f(t, o + 6 * stride), v7 = f(t, o + 7 * stride), v8 = f(t, o + 8 * stride), v9 = f(t, o + 9 * stride), v10 = f(t, o + 10 * stride), v11 = f(t, o + 11 * stride), v12 = f(t, o + 12 * stride), v13 = f(t, o + 13 * stride), v14 = f(t, o + 14 * stride), v15 = f(t, o + 15 * stride);
            { FloatVector x = v0; v0 = v0.blend(v1.rearrange(X1), M1); v1 = v1.blend(x.rearrange(X1), N1); }
            { FloatVector x = v2; v2 = v2.blend(v3.rearrange(X1), M1); v3 = v3.blend(x.rearrange(X1), N1); }
            { FloatVector x = v4; v4 = v4.blend(v5.rearrange(X1), M1); v5 = v5.blend(x.rearrange(X1), N1); }
            { FloatVector x = v6; v6 = v6.blend(v7.rearrange(X1), M1); v7 = v7.blend(x.rearrange(X1), N1); }
            { FloatVector x = v8; v8 = v8.blend(v9.rearrange(X1), M1); v9 = v9.blend(x.rearrange(X1), N1); }
            { FloatVector x = v10; v10 = v10.blend(v11.rearrange(X1), M1); v11 = v11.blend(x.rearrange(X1), N1); }
            { FloatVector x = v12; v12 = v12.blend(v13.rearrange(X1), M1); v13 = v13.blend(x.rearrange(X1), N1); }
            { FloatVector x = v14; v14 = v14.blend(v15.rearrange(X1), M1); v15 = v15.blend(x.rearrange(X1), N1); }
            { FloatVector x = v0; v0 = v0.blend(v2.rearrange(X2), M2); v2 = v2.blend(x.rearrange(X2), N2); }
            { FloatVector x = v1; v1 = v1.blend(v3.rearrange(X2), M2); v3 = v3.blend(x.rearrange(X2), N2); }
            { FloatVector x = v4; v4 = v4.blend(v6.rearrange(X2), M2); v6 = v6.blend(x.rearrange(X2), N2); }
            { FloatVector x = v5; v5 = v5.blend(v7.rearrange(X2), M2); v7 = v7.blend(x.rearrange(X2), N2); }
            { FloatVector x = v8; v8 = v8.blend(v10.rearrange(X2), M2); v10 = v10.blend(x.rearrange(X2), N2); }
            { FloatVector x = v9; v9 = v9.blend(v11.rearrange(X2), M2); v11 = v11.blend(x.rearrange(X2), N2); }
            { FloatVector x = v12; v12 = v12.blend(v14.rearrange(X2), M2); v14 = v14.blend(x.rearrange(X2), N2); }
            { FloatVector x = v13; v13 = v13.blend(v15.rearrange(X2), M2); v15 = v15.blend(x.rearrange(X2), N2); }
            { FloatVector x = v0; v0 = v0.blend(v4.rearrange(X4), M4); v4 = v4.blend(x.rearrange(X4), N4); }
            { FloatVector x = v1; v1 = v1.blend(v5.rearrange(X4), M4); v5 = v5.blend(x.rearrange(X4), N4); }
            { FloatVector x = v2; v2 = v2.blend(v6.rearrange(X4), M4); v6 = v6.blend(x.rearrange(X4), N4); }
            { FloatVector x = v3; v3 = v3.blend(v7.rearrange(X4), M4); v7 = v7.blend(x.rearrange(X4), N4); }
            { FloatVector x = v8; v8 = v8.blend(v12.rearrange(X4), M4); v12 = v12.blend(x.rearrange(X4), N4); }
            { FloatVector x = v9; v9 = v9.blend(v13.rearrange(X4), M4); v13 = v13.blend(x.rearrange(X4), N4); }
            { FloatVector x = v10; v10 = v10.blend(v14.rearrange(X4), M4); v14 = v14.blend(x.rearrange(X4), N4); }
            { FloatVector x = v11; v11 = v11.blend(v15.rearrange(X4), M4); v15 = v15.blend(x.rearrange(X4), N4); }
            { FloatVector x = v0; v0 = v0.blend(v8.rearrange(X8), M8); v8 = v8.blend(x.rearrange(X8), N8); }
            { FloatVector x = v1; v1 = v1.blend(v9.rearrange(X8), M8); v9 = v9.blend(x.rearrange(X8), N8); }
            { FloatVector x = v2; v2 = v2.blend(v10.rearrange(X8), M8); v10 = v10.blend(x.rearrange(X8), N8); }
            { FloatVector x = v3; v3 = v3.blend(v11.rearrange(X8), M8); v11 = v11.blend(x.rearrange(X8), N8); }
            { FloatVector x = v4; v4 = v4.blend(v12.rearrange(X8), M8); v12 = v12.blend(x.rearrange(X8), N8); }
            { FloatVector x = v5; v5 = v5.blend(v13.rearrange(X8), M8); v13 = v13.blend(x.rearrange(X8), N8); }
            { FloatVector x = v6; v6 = v6.blend(v14.rearrange(X8), M8); v14 = v14.blend(x.rearrange(X8), N8); }
            { FloatVector x = v7; v7 = v7.blend(v15.rearrange(X8), M8); v15 = v15.blend(x.rearrange(X8), N8); }
            v0.intoMemorySegment(panel, at + 0 * step, LE);
            v1.intoMemorySegment(panel, at + 1 * step, LE);
            v2.intoMemorySegment(panel, at + 2 * step, LE);
            v3.intoMemorySegment(panel, at + 3 * step, LE);
            v4.intoMemorySegment(panel, at + 4 * step, LE);
            v5.intoMemorySegment(panel, at + 5 * step, LE);
            v6.intoMemorySegment(panel, at + 6 * step, LE);
            v7.intoMemorySegment(panel, at + 7 * step, LE);
            v8.intoMemorySegment(panel, at + 8 * step, LE);
            v9.intoMemorySegment(panel, at + 9 * step, LE);
            v10.intoMemorySegment(panel, at + 10 * step, LE);
            v11.intoMemorySegment(panel, at + 11 * step, LE);
            v12.intoMemorySegment(panel, at + 12 * step, LE);
            v13.intoMemorySegment(panel, at + 13 * step, LE);
            v14.intoMemorySegment(panel, at + 14 * step, LE);
            v15.intoMemorySegment(panel, at + 15 * step, LE);
    }

    /** The 8 x 8 block at t[o..] (rows stride apart) into 8 panel steps from byte at, step bytes apart. */
    private static void block8(float[] t, int o, int stride, MemorySegment panel, long at, long step) {
            FloatVector v0 = f(t, o), v1 = f(t, o + 1 * stride), v2 = f(t, o + 2 * stride), v3 = f(t, o + 3 * stride), v4 = f(t, o + 4 * stride), v5 = f(t, o + 5 * stride), v6 = f(t, o + 6 * stride), v7 = f(t, o + 7 * stride);
            { FloatVector x = v0; v0 = v0.blend(v1.rearrange(X1), M1); v1 = v1.blend(x.rearrange(X1), N1); }
            { FloatVector x = v2; v2 = v2.blend(v3.rearrange(X1), M1); v3 = v3.blend(x.rearrange(X1), N1); }
            { FloatVector x = v4; v4 = v4.blend(v5.rearrange(X1), M1); v5 = v5.blend(x.rearrange(X1), N1); }
            { FloatVector x = v6; v6 = v6.blend(v7.rearrange(X1), M1); v7 = v7.blend(x.rearrange(X1), N1); }
            { FloatVector x = v0; v0 = v0.blend(v2.rearrange(X2), M2); v2 = v2.blend(x.rearrange(X2), N2); }
            { FloatVector x = v1; v1 = v1.blend(v3.rearrange(X2), M2); v3 = v3.blend(x.rearrange(X2), N2); }
            { FloatVector x = v4; v4 = v4.blend(v6.rearrange(X2), M2); v6 = v6.blend(x.rearrange(X2), N2); }
            { FloatVector x = v5; v5 = v5.blend(v7.rearrange(X2), M2); v7 = v7.blend(x.rearrange(X2), N2); }
            { FloatVector x = v0; v0 = v0.blend(v4.rearrange(X4), M4); v4 = v4.blend(x.rearrange(X4), N4); }
            { FloatVector x = v1; v1 = v1.blend(v5.rearrange(X4), M4); v5 = v5.blend(x.rearrange(X4), N4); }
            { FloatVector x = v2; v2 = v2.blend(v6.rearrange(X4), M4); v6 = v6.blend(x.rearrange(X4), N4); }
            { FloatVector x = v3; v3 = v3.blend(v7.rearrange(X4), M4); v7 = v7.blend(x.rearrange(X4), N4); }
            v0.intoMemorySegment(panel, at + 0 * step, LE);
            v1.intoMemorySegment(panel, at + 1 * step, LE);
            v2.intoMemorySegment(panel, at + 2 * step, LE);
            v3.intoMemorySegment(panel, at + 3 * step, LE);
            v4.intoMemorySegment(panel, at + 4 * step, LE);
            v5.intoMemorySegment(panel, at + 5 * step, LE);
            v6.intoMemorySegment(panel, at + 6 * step, LE);
            v7.intoMemorySegment(panel, at + 7 * step, LE);
    }

    private static float[] tile(int n) {
        float[][] t = TILE.get();
        if (t[0].length < n) t[0] = new float[n];
        return t[0];
    }
}
