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
                if (L == 16) block16(tile, jb * stride + k, stride, panel, 4L * (k * P + jb));
                else block8(tile, jb * stride + k, stride, panel, 4L * (k * P + jb));
            }
        for (int j = 0; j < P; j++)
            for (int k = full; k < in; k++) panel.set(KernelMemory.F32, 4L * (k * P + j), tile[j * stride + k]);
    }

    private static FloatVector f(float[] t, int o) {
        return FloatVector.fromArray(F, t, o);
    }

    /** The 16 x 16 block at t[o..] (rows stride apart) into 16 panel steps from byte at. */
    private static void block16(float[] t, int o, int stride, MemorySegment panel, long at) {
        long step = 4L * P;
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

    /** The 8 x 8 block at t[o..] (rows stride apart) into 8 panel steps from byte at. */
    private static void block8(float[] t, int o, int stride, MemorySegment panel, long at) {
        long step = 4L * P;
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
