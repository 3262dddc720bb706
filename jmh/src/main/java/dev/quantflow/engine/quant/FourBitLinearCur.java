package dev.quantflow.engine.quant;

import dev.quantflow.engine.compute.FourBitKernels;
import dev.quantflow.engine.compute.Linear;
import dev.quantflow.engine.compute.Parallel;
import dev.quantflow.engine.compute.VectorMath;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * FourBitLinear's one-row path before h-avx2, kept verbatim for benchmarks (QuantKernelAB
 * "nf4Cur", "fp4Cur"): FourBitKernels.dot8 as it was, whose 8-lane branch looks each row's code up
 * in the unscaled two-half table (selectFrom(t0, t1)) and multiplies by the row's absmax. One x row
 * only, shapes dot8 takes (in a multiple of the block, the block of the chunk).
 */
public final class FourBitLinearCur implements Linear {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Integer> I = VectorSpecies.of(int.class, F.vectorShape());
    private static final int L = F.length();
    private static final boolean WIDE = L >= 16;
    private static final IntVector NIBBLE = IntVector.broadcast(I, 15);
    private final FourBitMatrix stats;
    private final int[] packed;
    private final FloatVector[] table;
    private final boolean masked;

    public FourBitLinearCur(FourBitMatrix w) {
        this(w, false);
    }

    /** masked: the h-avx2 8-lane kernel (two passes of four rows) with an explicit nibble mask before each select (QuantKernelAB "nf4Masked"). */
    public FourBitLinearCur(FourBitMatrix w, boolean masked) {
        this.masked = masked;
        if (L < 8 || w.cols() % w.blockSize() != 0 || FourBitKernels.CHUNK % w.blockSize() != 0 || w.blockSize() % L != 0)
            throw new IllegalArgumentException("FourBitLinearCur takes dot8's shapes on 8 or more lanes");
        this.packed = FourBitKernels.pack(w.q(), w.rows(), w.cols());
        this.stats = new FourBitMatrix(w.code(), w.rows(), w.cols(), w.blockSize(), null, w.absmaxFp32(), w.absmaxQ(), w.absmaxMap(), w.absmaxScales(), w.absmaxOffset());
        this.table = FourBitKernels.tableVectors(w.code().table());
    }

    @Override
    public int inFeatures() {
        return stats.cols();
    }

    @Override
    public int outFeatures() {
        return stats.rows();
    }

    @Override
    public long weightBytes() {
        return stats.packedBytes();
    }

    @Override
    public String scheme() {
        return stats.scheme().toString();
    }

    @Override
    public void forward(float[] x, int rows, float[] y) {
        if (rows != 1) throw new IllegalArgumentException("FourBitLinearCur is a decode kernel: rows must be 1");
        int out = stats.rows(), in = stats.cols(), R = FourBitKernels.ROWS, groups = FourBitKernels.groups(out);
        int bs = stats.blockSize(), perRow = in / bs, chunkBlocks = FourBitKernels.CHUNK / bs;
        Parallel.range(groups, (long) in * R, (first, last) -> {
            float[] dots = new float[R * (last - first)], am = new float[R * chunkBlocks];
            for (int ch = 0; ch * FourBitKernels.CHUNK < in; ch++) {
                int c0 = ch * FourBitKernels.CHUNK, n = Math.min(FourBitKernels.CHUNK, in - c0), nb = n / bs, base = groups * c0;
                for (int g = first; g < last; g++) {
                    for (int j = 0; j < R; j++) {
                        int o = g * R + j, b = o * perRow + c0 / bs;
                        for (int k = 0; k < nb; k++) am[j * chunkBlocks + k] = o < out ? stats.absmax(b + k) : 0f;
                    }
                    if (masked && !WIDE) {
                        quad(packed, base + g * n, x, c0, n, bs, am, 0, chunkBlocks, table[0], table[1], 0, dots, (g - first) * R);
                        quad(packed, base + g * n, x, c0, n, bs, am, 4 * chunkBlocks, chunkBlocks, table[0], table[1], 16, dots, (g - first) * R + 4);
                    } else dot8(packed, base + g * n, x, c0, n, bs, am, 0, chunkBlocks, table, dots, (g - first) * R);
                }
            }
            for (int o = first * R; o < Math.min(out, last * R); o++) y[o] = dots[o - first * R];
        });
    }

    private static FloatVector lookup(IntVector idx, IntVector t0, IntVector t1) {
        return (WIDE ? idx.selectFrom(t0) : idx.selectFrom(t0, t1)).reinterpretAsFloats();
    }

    /** FourBitKernels.dot8 before h-avx2. */
    private static void dot8(int[] p, int go, float[] x, int xo, int n, int bs, float[] am, int ao, int amStride, FloatVector[] table, float[] dst, int d) {
        FloatVector c0 = FloatVector.zero(F), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0;
        FloatVector tl = table[0], th = WIDE ? tl : table[1];
        for (int b0 = 0, k = ao; b0 < n; b0 += bs, k++) {
            float a0 = am[k], a1 = am[k + amStride], a2 = am[k + 2 * amStride], a3 = am[k + 3 * amStride];
            float a4 = am[k + 4 * amStride], a5 = am[k + 5 * amStride], a6 = am[k + 6 * amStride], a7 = am[k + 7 * amStride];
            if (WIDE) {
                IntVector s0 = tl.mul(a0).reinterpretAsInts(), s1 = tl.mul(a1).reinterpretAsInts(), s2 = tl.mul(a2).reinterpretAsInts(), s3 = tl.mul(a3).reinterpretAsInts();
                IntVector s4 = tl.mul(a4).reinterpretAsInts(), s5 = tl.mul(a5).reinterpretAsInts(), s6 = tl.mul(a6).reinterpretAsInts(), s7 = tl.mul(a7).reinterpretAsInts();
                for (int i = b0; i < b0 + bs; i += L) {
                    IntVector v = IntVector.fromArray(I, p, go + i);
                    FloatVector xv = FloatVector.fromArray(F, x, xo + i);
                    c0 = v.and(NIBBLE).selectFrom(s0).reinterpretAsFloats().fma(xv, c0);
                    c1 = v.lanewise(VectorOperators.LSHR, 4).and(NIBBLE).selectFrom(s1).reinterpretAsFloats().fma(xv, c1);
                    c2 = v.lanewise(VectorOperators.LSHR, 8).and(NIBBLE).selectFrom(s2).reinterpretAsFloats().fma(xv, c2);
                    c3 = v.lanewise(VectorOperators.LSHR, 12).and(NIBBLE).selectFrom(s3).reinterpretAsFloats().fma(xv, c3);
                    c4 = v.lanewise(VectorOperators.LSHR, 16).and(NIBBLE).selectFrom(s4).reinterpretAsFloats().fma(xv, c4);
                    c5 = v.lanewise(VectorOperators.LSHR, 20).and(NIBBLE).selectFrom(s5).reinterpretAsFloats().fma(xv, c5);
                    c6 = v.lanewise(VectorOperators.LSHR, 24).and(NIBBLE).selectFrom(s6).reinterpretAsFloats().fma(xv, c6);
                    c7 = v.lanewise(VectorOperators.LSHR, 28).selectFrom(s7).reinterpretAsFloats().fma(xv, c7);
                }
            } else {
                IntVector t0 = tl.reinterpretAsInts(), t1 = th.reinterpretAsInts();
                for (int i = b0; i < b0 + bs; i += L) {
                    IntVector v = IntVector.fromArray(I, p, go + i);
                    FloatVector xv = FloatVector.fromArray(F, x, xo + i);
                    c0 = lookup(v.and(NIBBLE), t0, t1).mul(a0).fma(xv, c0);
                    c1 = lookup(v.lanewise(VectorOperators.LSHR, 4).and(NIBBLE), t0, t1).mul(a1).fma(xv, c1);
                    c2 = lookup(v.lanewise(VectorOperators.LSHR, 8).and(NIBBLE), t0, t1).mul(a2).fma(xv, c2);
                    c3 = lookup(v.lanewise(VectorOperators.LSHR, 12).and(NIBBLE), t0, t1).mul(a3).fma(xv, c3);
                    c4 = lookup(v.lanewise(VectorOperators.LSHR, 16).and(NIBBLE), t0, t1).mul(a4).fma(xv, c4);
                    c5 = lookup(v.lanewise(VectorOperators.LSHR, 20).and(NIBBLE), t0, t1).mul(a5).fma(xv, c5);
                    c6 = lookup(v.lanewise(VectorOperators.LSHR, 24).and(NIBBLE), t0, t1).mul(a6).fma(xv, c6);
                    c7 = lookup(v.lanewise(VectorOperators.LSHR, 28), t0, t1).mul(a7).fma(xv, c7);
                }
            }
        }
        dst[d] += VectorMath.sumLanes(c0);
        dst[d + 1] += VectorMath.sumLanes(c1);
        dst[d + 2] += VectorMath.sumLanes(c2);
        dst[d + 3] += VectorMath.sumLanes(c3);
        dst[d + 4] += VectorMath.sumLanes(c4);
        dst[d + 5] += VectorMath.sumLanes(c5);
        dst[d + 6] += VectorMath.sumLanes(c6);
        dst[d + 7] += VectorMath.sumLanes(c7);
    }

    private static void quad(int[] p, int go, float[] x, int xo, int n, int bs, float[] am, int ao, int amStride, FloatVector tl, FloatVector th, int shift, float[] dst, int d) {
        FloatVector c0 = FloatVector.zero(F), c1 = c0, c2 = c0, c3 = c0;
        for (int b0 = 0, k = ao; b0 < n; b0 += bs, k++) {
            float a0 = am[k], a1 = am[k + amStride], a2 = am[k + 2 * amStride], a3 = am[k + 3 * amStride];
            IntVector l0 = tl.mul(a0).reinterpretAsInts(), h0 = th.mul(a0).reinterpretAsInts(), l1 = tl.mul(a1).reinterpretAsInts(), h1 = th.mul(a1).reinterpretAsInts();
            IntVector l2 = tl.mul(a2).reinterpretAsInts(), h2 = th.mul(a2).reinterpretAsInts(), l3 = tl.mul(a3).reinterpretAsInts(), h3 = th.mul(a3).reinterpretAsInts();
            for (int i = b0; i < b0 + bs; i += L) {
                IntVector v = IntVector.fromArray(I, p, go + i).lanewise(VectorOperators.LSHR, shift);
                FloatVector xv = FloatVector.fromArray(F, x, xo + i);
                c0 = v.and(NIBBLE).selectFrom(l0, h0).reinterpretAsFloats().fma(xv, c0);
                c1 = v.lanewise(VectorOperators.LSHR, 4).and(NIBBLE).selectFrom(l1, h1).reinterpretAsFloats().fma(xv, c1);
                c2 = v.lanewise(VectorOperators.LSHR, 8).and(NIBBLE).selectFrom(l2, h2).reinterpretAsFloats().fma(xv, c2);
                c3 = v.lanewise(VectorOperators.LSHR, 12).and(NIBBLE).selectFrom(l3, h3).reinterpretAsFloats().fma(xv, c3);
            }
        }
        dst[d] += VectorMath.sumLanes(c0);
        dst[d + 1] += VectorMath.sumLanes(c1);
        dst[d + 2] += VectorMath.sumLanes(c2);
        dst[d + 3] += VectorMath.sumLanes(c3);
    }
}
