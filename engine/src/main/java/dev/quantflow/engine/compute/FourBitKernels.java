package dev.quantflow.engine.compute;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * 4-bit codebook (NF4, FP4) decode on the Vector API. The codes are packed eight output rows per
 * int (pack): one int holds the codes of rows 8g..8g+7 at one input column, row 8g+j in bits
 * 4j..4j+3, so a vector of ints is one column block of eight weight rows and each activation
 * vector serves eight rows (Int8Kernels.interleave8's idea at half the bytes). A code's value is
 * looked up in registers: lane permutation (selectFrom: one vpermps over a 16-float table with 16
 * lanes, a two-table vpermi2ps-style select with 8) of the block's table already multiplied by
 * the block's absmax, so each weight is exactly fl(value * absmax), as decodeRow writes it.
 */
public final class FourBitKernels {
    private static final VectorSpecies<Float> F = Int8Kernels.F;
    private static final VectorSpecies<Integer> I = Int8Kernels.I;
    private static final int L = F.length();
    /** 16 lanes: the 16 values fit one vector (one table per row and block); 8 lanes: two halves. */
    private static final boolean WIDE = L >= 16;
    /** Whether the vector lookup runs (8 or 16 lanes); narrower species decode a code at a time. */
    public static final boolean VECTOR = L >= 8;

    /** Rows per packed int. */
    public static final int ROWS = 8;
    /** Columns per chunk (Int8Kernels.CHUNK: x's chunk stays in L1 while the groups stream past). */
    public static final int CHUNK = Int8Kernels.CHUNK;

    /** The nibble mask as a held broadcast: IntVector.and(int) ran C2's code several times slower (Fp8Kernels.MASK_E4M3). */
    private static final IntVector NIBBLE = IntVector.broadcast(I, 15);

    private FourBitKernels() {}

    /** Groups of eight rows (the last one padded with code 0) of an out-row matrix. */
    public static int groups(int out) {
        return (out + ROWS - 1) / ROWS;
    }

    /** Lanes of the preferred float species (the column block of dot8). */
    public static int lanes() {
        return L;
    }

    /**
     * Where the int holding code (o, c) of an (out, in) matrix lies: chunk-major as interleave8
     * (chunk c0 = c / CHUNK * CHUNK of n columns from groups(out) * c0), in a chunk group by group
     * (n ints each), column by column. The same on every species (no vector width in the layout).
     */
    public static int index(int o, int c, int out, int in) {
        int c0 = c / CHUNK * CHUNK;
        return groups(out) * c0 + o / ROWS * Int8Kernels.chunkColumns(c0 / CHUNK, in) + c - c0;
    }

    /** Row-major codes (0..15, one per byte) into pack's layout. */
    public static int[] pack(byte[] codes, int out, int in) {
        int groups = groups(out);
        int[] p = new int[groups * in];
        Parallel.range(groups, (long) ROWS * in, (first, last) -> {
            for (int g = first; g < last; g++)
                for (int j = 0; j < ROWS && g * ROWS + j < out; j++) {
                    int row = (g * ROWS + j) * in, shift = 4 * j;
                    for (int ch = 0; ch < Int8Kernels.chunks(in); ch++) {
                        int c0 = ch * CHUNK, n = Int8Kernels.chunkColumns(ch, in), at = groups * c0 + g * n;
                        for (int c = 0; c < n; c++) p[at + c] |= (codes[row + c0 + c] & 15) << shift;
                    }
                }
        });
        return p;
    }

    /** pack's inverse: row-major codes, one per byte. */
    public static byte[] unpack(int[] p, int out, int in) {
        byte[] codes = new byte[out * in];
        int groups = groups(out);
        for (int o = 0; o < out; o++) {
            int shift = 4 * (o % ROWS);
            for (int ch = 0; ch < Int8Kernels.chunks(in); ch++) {
                int c0 = ch * CHUNK, n = Int8Kernels.chunkColumns(ch, in), at = groups * c0 + o / ROWS * n;
                for (int c = 0; c < n; c++) codes[o * in + c0 + c] = (byte) ((p[at + c] >>> shift) & 15);
            }
        }
        return codes;
    }

    /** The 16 code values as the first 16 lanes of table vectors: one (16 lanes) or two halves (8). */
    public static FloatVector[] tableVectors(float[] values16) {
        if (WIDE) {
            float[] t = new float[L];
            System.arraycopy(values16, 0, t, 0, 16);
            return new FloatVector[] {FloatVector.fromArray(F, t, 0)};
        }
        if (L == 8) return new FloatVector[] {FloatVector.fromArray(F, values16, 0), FloatVector.fromArray(F, values16, 8)};
        return new FloatVector[0];
    }

    /**
     * dst[d + i] = values[code] * scale for the n codes in bits shift..shift+3 of p[at..at+n) (one
     * row's stretch of a chunk; the caller cuts rows at block boundaries).
     */
    public static void decode(FloatVector[] table, float[] values, int[] p, int at, int shift, float scale, float[] dst, int d, int n) {
        int i = 0;
        if (VECTOR) {
            IntVector t0 = table[0].mul(scale).reinterpretAsInts(), t1 = WIDE ? t0 : table[1].mul(scale).reinterpretAsInts();
            for (; i <= n - L; i += L)
                lookup(IntVector.fromArray(I, p, at + i).lanewise(VectorOperators.LSHR, shift).and(NIBBLE), t0, t1).intoArray(dst, d + i);
        }
        for (; i < n; i++) dst[d + i] = values[(p[at + i] >>> shift) & 15] * scale;
    }

    /** The values of the table (t0, t1: its halves when 8 lanes) at idx (0..15). */
    private static FloatVector lookup(IntVector idx, IntVector t0, IntVector t1) {
        return (WIDE ? idx.selectFrom(t0) : idx.selectFrom(t0, t1)).reinterpretAsFloats();
    }

    /**
     * dst[d + j] += sum over columns [0, n) of the group's row j weight times x[xo + c], for the
     * eight rows of the packed group at p[go..] (one chunk: n ints, n a multiple of bs, bs of the
     * lanes). Block k (columns k*bs..) of row j has absmax am[ao + j * amStride + k]: per block
     * each row's table is scaled once (eight multiplies per bs x 8 weights), then every column
     * block costs one int load, one x load and per row a shift, a mask, a permute and an fma;
     * each row's sum is one fma chain per lane over the chunk in column order, reduced by
     * sumLanes: the order of PanelMatmul.forwardChained(segment CHUNK, chains L) over decodeRow.
     * On 8 lanes the rows go in two passes of four (quad), each row's chain and order unchanged.
     * <p>lanes: scratch of at least 8 * F.length() floats; the totals are summed from it
     * (VectorMath.sumLanes(float[], int)) so that none is boxed into an out-of-line sumLanes.
     */
    public static void dot8(int[] p, int go, float[] x, int xo, int n, int bs, float[] am, int ao, int amStride, FloatVector[] table, float[] dst, int d, float[] lanes) {
        if (!WIDE) {   // 8 lanes: rows in two passes of four (below)
            quad(p, go, x, xo, n, bs, am, ao, amStride, table[0], table[1], 0, dst, d, lanes);
            quad(p, go, x, xo, n, bs, am, ao + 4 * amStride, amStride, table[0], table[1], 16, dst, d + 4, lanes);
            return;
        }
        FloatVector c0 = FloatVector.zero(F), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0;
        FloatVector tl = table[0];
        for (int b0 = 0, k = ao; b0 < n; b0 += bs, k++) {
            float a0 = am[k], a1 = am[k + amStride], a2 = am[k + 2 * amStride], a3 = am[k + 3 * amStride];
            float a4 = am[k + 4 * amStride], a5 = am[k + 5 * amStride], a6 = am[k + 6 * amStride], a7 = am[k + 7 * amStride];
            // eight scaled tables stay in registers (8 + 8 chains + x + codes + index: 19 of 32)
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
        }
        c0.intoArray(lanes, 0 * L);
        c1.intoArray(lanes, 1 * L);
        c2.intoArray(lanes, 2 * L);
        c3.intoArray(lanes, 3 * L);
        c4.intoArray(lanes, 4 * L);
        c5.intoArray(lanes, 5 * L);
        c6.intoArray(lanes, 6 * L);
        c7.intoArray(lanes, 7 * L);
        VectorMath.addLaneSums(lanes, 0, 8, dst, d);
    }

    /**
     * dot8 on 8 lanes for the four rows whose codes sit at bits shift..shift+15 of each int: per
     * block each row's two table halves scaled by its absmax (the same fl(value * absmax)), so a
     * weight is a shift and a two-table select, no multiply; 8 tables + 4 chains + codes, x and
     * index fit 16 registers (AVX2). No nibble mask: selectFrom(v1, v2) wraps an index mod 16 and
     * C2 emits that and itself (with ours as well it merged both into a ternary-logic op plus a
     * register copy). The chunk's codes and x are read twice (L1). Why: with all
     * eight rows at once the scaled halves (16 registers) did not fit, and the unscaled lookup
     * times absmax cost a multiply per row and column block (docs/BENCHMARKS.md "256-bit one-row
     * kernels (h-avx2)"). Each row's chain and order are dot8's.
     */
    private static void quad(int[] p, int go, float[] x, int xo, int n, int bs, float[] am, int ao, int amStride, FloatVector tl, FloatVector th, int shift, float[] dst, int d, float[] lanes) {
        FloatVector c0 = FloatVector.zero(F), c1 = c0, c2 = c0, c3 = c0;
        for (int b0 = 0, k = ao; b0 < n; b0 += bs, k++) {
            float a0 = am[k], a1 = am[k + amStride], a2 = am[k + 2 * amStride], a3 = am[k + 3 * amStride];
            IntVector l0 = tl.mul(a0).reinterpretAsInts(), h0 = th.mul(a0).reinterpretAsInts(), l1 = tl.mul(a1).reinterpretAsInts(), h1 = th.mul(a1).reinterpretAsInts();
            IntVector l2 = tl.mul(a2).reinterpretAsInts(), h2 = th.mul(a2).reinterpretAsInts(), l3 = tl.mul(a3).reinterpretAsInts(), h3 = th.mul(a3).reinterpretAsInts();
            for (int i = b0; i < b0 + bs; i += L) {
                IntVector v = IntVector.fromArray(I, p, go + i).lanewise(VectorOperators.LSHR, shift);
                FloatVector xv = FloatVector.fromArray(F, x, xo + i);
                c0 = v.selectFrom(l0, h0).reinterpretAsFloats().fma(xv, c0);
                c1 = v.lanewise(VectorOperators.LSHR, 4).selectFrom(l1, h1).reinterpretAsFloats().fma(xv, c1);
                c2 = v.lanewise(VectorOperators.LSHR, 8).selectFrom(l2, h2).reinterpretAsFloats().fma(xv, c2);
                c3 = v.lanewise(VectorOperators.LSHR, 12).selectFrom(l3, h3).reinterpretAsFloats().fma(xv, c3);
            }
        }
        c0.intoArray(lanes, 0);
        c1.intoArray(lanes, L);
        c2.intoArray(lanes, 2 * L);
        c3.intoArray(lanes, 3 * L);
        VectorMath.addLaneSums(lanes, 0, 4, dst, d);
    }

    /**
     * sum_i w[wo + i] * x[xo + i] over a decoded row in dot8's order: per chunk one fma chain per
     * lane over its whole column blocks, sumLanes, then the n % L tail's plain sum; chunks added
     * from zero (the shapes and species dot8 does not take).
     */
    public static float chunkedDot(float[] w, int wo, float[] x, int xo, int in) {
        float sum = 0f;
        for (int ch = 0; ch < Int8Kernels.chunks(in); ch++) {
            int c0 = ch * CHUNK, n = Int8Kernels.chunkColumns(ch, in), full = n / L * L;
            FloatVector acc = FloatVector.zero(F);
            for (int i = 0; i < full; i += L) acc = FloatVector.fromArray(F, w, wo + c0 + i).fma(FloatVector.fromArray(F, x, xo + c0 + i), acc);
            sum += VectorMath.sumLanes(acc);
            if (full < n) {
                float t = 0f;
                for (int i = full; i < n; i++) t += w[wo + c0 + i] * x[xo + c0 + i];
                sum += t;
            }
        }
        return sum;
    }
}
