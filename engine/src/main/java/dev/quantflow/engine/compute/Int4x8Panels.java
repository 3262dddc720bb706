package dev.quantflow.engine.compute;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The int4 x int8 kernel shared by GGUF Q4_0 and W4A8: weight rows in vector lanes, integer sums exact.
 *
 * <p>Layout: a panel is {@link #P} weight rows, one per 16-bit lane of the preferred species (32 on
 * 512-bit, 16 on 256-bit; row j in lane {@link #lane}(j)). A block is 32 input columns; one block of one panel is 8 "quads" of P
 * shorts, lane j of quad i holding row j's four codes of columns 2i, 2i+16, 2i+1, 2i+17 in its
 * nibbles from the lowest up: exactly the little-endian uint16 at byte 2i of a ggml block_q4_0's
 * qs, so packing Q4_0 is a transpose of 16-bit units. Activations come as int8 codes in that
 * column order ({@link Activations}), each broadcast into all lanes.
 *
 * <p>Why int16 lanes: with centered codes, |q - 8| <= 8 and |x| <= 127, so a block's 32 products
 * sum to at most 32512, within int16. The sum of q * x wraps modulo 2^16 as it accumulates, and
 * subtracting 8 * sum(x) (mod 2^16) gives the exact centered sum. No horizontal reduction: each
 * lane ends holding its own row's sum, widened once per block (Q4_0) or per group (W4A8).
 * The integer part is exact and the float part runs in the same order for every row, so one row
 * and a batch give bit-identical outputs (batch invariance).
 */
public final class Int4x8Panels {
    static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    static final VectorSpecies<Short> S = VectorSpecies.of(short.class, F.vectorShape());
    static final VectorSpecies<Integer> I = VectorSpecies.of(int.class, F.vectorShape());
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    /** Weight rows per panel: one per int16 lane. */
    public static final int P = S.length();
    /** Input columns per block. */
    public static final int K = 32;
    /** Bytes of one block's codes of one panel. */
    public static final int QUAD_BYTES = 2 * P, BLOCK_CODE_BYTES = 8 * QUAD_BYTES;
    /** Rows of x per tile in the batched loops (2 or 4): each quad's codes are split once for this many rows. */
    static final int TILE = Integer.getInteger("quantflow.int4x8.tile", 2);   // 2 measured faster than 4 (spills); -D for the comparison

    private Int4x8Panels() {}

    /** The short of four 4-bit codes of columns 2i, 2i+16, 2i+1, 2i+17 (each 0..15), as the kernel reads it. */
    public static short quad(int c0, int c16, int c1, int c17) {
        return (short) (c0 | c16 << 4 | c1 << 8 | c17 << 12);
    }

    /** Number of panels for out rows. */
    public static int panels(int out) {
        return (out + P - 1) / P;
    }

    /**
     * Activation rows as the kernel reads them: int8 codes reordered per block into quad order
     * (as shorts, broadcast from there), and per block 8 * sum(x) modulo 2^16 (the centering term).
     */
    public record Activations(short[] q, short[] centering, int[] blockSums, int rows, int blocks) {
        /** codes (rows, blocks * 32) in column order. */
        public static Activations of(byte[] codes, int rows, int blocks) {
            int n = blocks * K;
            short[] q = new short[rows * n];
            short[] c = new short[rows * blocks];
            int[] sums = new int[rows * blocks];
            for (int r = 0; r < rows; r++)
                for (int b = 0; b < blocks; b++) {
                    int at = r * n + b * K, s = 0;
                    for (int i = 0; i < 8; i++) {
                        q[at + 4 * i] = codes[at + 2 * i];
                        q[at + 4 * i + 1] = codes[at + 2 * i + 16];
                        q[at + 4 * i + 2] = codes[at + 2 * i + 1];
                        q[at + 4 * i + 3] = codes[at + 2 * i + 17];
                    }
                    for (int k = 0; k < K; k++) s += codes[at + k];
                    sums[r * blocks + b] = s;
                    c[r * blocks + b] = (short) (8 * s);
                }
            return new Activations(q, c, sums, rows, blocks);
        }
    }

    // ---------------------------------------------------------------- Q4_0: a float scale per row per block

    /** Bytes of one block of one panel in the Q4_0 layout: the codes, then P f16 scales. */
    public static final int Q4_0_BLOCK_BYTES = BLOCK_CODE_BYTES + 2 * P;

    /**
     * y[r * yStride + p * P + j] for rows j < n of panel p: sum_b ws[j, b] * xd[r, b] * isum[j, b],
     * panel p's blocks at byte panelOff of w (Q4_0 layout), x rows [r0, r1) of a.
     */
    public static void q4_0(MemorySegment w, long panelOff, Activations a, float[] xd, int r0, int r1, float[] y, int yStride, int yOff, int n) {
        int r = r0;
        if (TILE == 4) for (; r + 4 <= r1; r += 4) q4_0Tile(w, panelOff, a, xd, r, y, yStride, yOff, n);
        for (; r + 2 <= r1; r += 2) q4_0Tile2(w, panelOff, a, xd, r, y, yStride, yOff, n);
        for (; r < r1; r++) q4_0Row(w, panelOff, a, xd, r, y, yStride, yOff, n);
    }

    /** One x row against one panel. */
    public static void q4_0Row(MemorySegment w, long panelOff, Activations a, float[] xd, int r, float[] y, int yStride, int yOff, int n) {
        int blocks = a.blocks(), L = F.length();
        short[] x = a.q();
        FloatVector f0 = FloatVector.zero(F), f1 = f0;
        int xb = r * blocks;
        for (int b = 0; b < blocks; b++) {
            long off = panelOff + (long) b * Q4_0_BLOCK_BYTES;
            // the block's sums, written out here (not a call): C2 did not inline a helper into this loop and boxed its vector
            ShortVector s0 = ShortVector.zero(S), s1 = s0;
            for (int i = 0, k = (xb + b) * K; i < 8; i++, k += 4) {
                ShortVector v = ShortVector.fromMemorySegment(S, w, off + (long) i * QUAD_BYTES, LE);
                s0 = s0.add(v.and((short) 0xF).mul(x[k])).add(v.lanewise(VectorOperators.LSHR, 4).and((short) 0xF).mul(x[k + 1]));
                s1 = s1.add(v.lanewise(VectorOperators.LSHR, 8).and((short) 0xF).mul(x[k + 2])).add(v.lanewise(VectorOperators.LSHR, 12).mul(x[k + 3]));
            }
            ShortVector s = s0.add(s1).sub(a.centering()[xb + b]);
            float d = xd[xb + b];
            // low, high and f16 written out (as the sums above): past C2's inlining node cutoff
            // they stayed out of line, their vectors boxed and their conversions not
            // intrinsified (6-7 GB/s of garbage in a GGUF Q4_0 decode, JFR)
            IntVector h0 = (IntVector) ShortVector.fromMemorySegment(HALF, w, off + BLOCK_CODE_BYTES, LE).convertShape(VectorOperators.S2I, I, 0);
            IntVector h1 = (IntVector) ShortVector.fromMemorySegment(HALF, w, off + BLOCK_CODE_BYTES + 2L * L, LE).convertShape(VectorOperators.S2I, I, 0);
            FloatVector d0 = h0.and(0x7FFF).lanewise(VectorOperators.LSHL, 13).reinterpretAsFloats().mul(F16_SCALE).reinterpretAsInts().or(h0.and(0x8000).lanewise(VectorOperators.LSHL, 16)).reinterpretAsFloats().mul(d), d1 = h1.and(0x7FFF).lanewise(VectorOperators.LSHL, 13).reinterpretAsFloats().mul(F16_SCALE).reinterpretAsInts().or(h1.and(0x8000).lanewise(VectorOperators.LSHL, 16)).reinterpretAsFloats().mul(d);
            f0 = ((FloatVector) s.reinterpretAsInts().lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 16).convert(VectorOperators.I2F, 0)).fma(d0, f0);
            f1 = ((FloatVector) s.reinterpretAsInts().lanewise(VectorOperators.ASHR, 16).convert(VectorOperators.I2F, 0)).fma(d1, f1);
        }
        store(f0, f1, y, yOff + r * yStride, n);
    }

    /**
     * The lane of a panel's row j: rows 0..P/2-1 in the even lanes, P/2..P-1 in the odd ones, so
     * that a block's int16 sums widen to int32 in row order by shifts within each 32-bit pair
     * (written out in each kernel, below) instead of a cross-lane conversion. Scales stay in row order.
     */
    public static int lane(int j) {
        return j < P / 2 ? 2 * j : 2 * (j - P / 2) + 1;
    }

    // A block's int16 sums as floats, written out in each kernel: rows 0..P/2-1 are the even
    // lanes (shift left 16, arithmetic shift right 16), rows P/2..P-1 the odd lanes (arithmetic
    // shift right 16).
    private static final VectorSpecies<Short> HALF = VectorSpecies.of(short.class, jdk.incubator.vector.VectorShape.forBitSize(F.length() * 16));
    // The f16 scales as floats, exact for every finite half (subnormals included): exponent and
    // mantissa shifted into an f32's place and scaled by 2^112, the sign put back. No Inf/NaN case
    // (VectorMath.f16 has one; its mask blend was not intrinsified in these loops): the packers
    // refuse non-finite scales.
    private static final float F16_SCALE = 0x1p112f;

    /** Four x rows at once: each quad's codes are split once and meet four broadcasts (the batched path). */
    private static void q4_0Tile(MemorySegment w, long panelOff, Activations a, float[] xd, int r, float[] y, int yStride, int yOff, int n) {
        int blocks = a.blocks(), L = F.length(), n32 = blocks * K;
        short[] x = a.q();
        short[] cen = a.centering();
        FloatVector f00 = FloatVector.zero(F), f01 = f00, f10 = f00, f11 = f00, f20 = f00, f21 = f00, f30 = f00, f31 = f00;
        for (int b = 0; b < blocks; b++) {
            long off = panelOff + (long) b * Q4_0_BLOCK_BYTES;
            ShortVector s0 = ShortVector.zero(S), s1 = s0, s2 = s0, s3 = s0;
            int k0 = r * n32 + b * K, k1 = k0 + n32, k2 = k1 + n32, k3 = k2 + n32;
            for (int i = 0; i < 8; i++, k0 += 4, k1 += 4, k2 += 4, k3 += 4) {
                ShortVector v = ShortVector.fromMemorySegment(S, w, off + (long) i * QUAD_BYTES, LE);
                ShortVector c0 = v.and((short) 0xF), c1 = v.lanewise(VectorOperators.LSHR, 4).and((short) 0xF);
                ShortVector c2 = v.lanewise(VectorOperators.LSHR, 8).and((short) 0xF), c3 = v.lanewise(VectorOperators.LSHR, 12);
                s0 = s0.add(c0.mul(x[k0])).add(c1.mul(x[k0 + 1])).add(c2.mul(x[k0 + 2])).add(c3.mul(x[k0 + 3]));
                s1 = s1.add(c0.mul(x[k1])).add(c1.mul(x[k1 + 1])).add(c2.mul(x[k1 + 2])).add(c3.mul(x[k1 + 3]));
                s2 = s2.add(c0.mul(x[k2])).add(c1.mul(x[k2 + 1])).add(c2.mul(x[k2 + 2])).add(c3.mul(x[k2 + 3]));
                s3 = s3.add(c0.mul(x[k3])).add(c1.mul(x[k3 + 1])).add(c2.mul(x[k3 + 2])).add(c3.mul(x[k3 + 3]));
            }
            int xb = r * blocks + b;
            s0 = s0.sub(cen[xb]);
            s1 = s1.sub(cen[xb + blocks]);
            s2 = s2.sub(cen[xb + 2 * blocks]);
            s3 = s3.sub(cen[xb + 3 * blocks]);
            IntVector h0 = (IntVector) ShortVector.fromMemorySegment(HALF, w, off + BLOCK_CODE_BYTES, LE).convertShape(VectorOperators.S2I, I, 0);
            IntVector h1 = (IntVector) ShortVector.fromMemorySegment(HALF, w, off + BLOCK_CODE_BYTES + 2L * L, LE).convertShape(VectorOperators.S2I, I, 0);
            FloatVector w0 = h0.and(0x7FFF).lanewise(VectorOperators.LSHL, 13).reinterpretAsFloats().mul(F16_SCALE).reinterpretAsInts().or(h0.and(0x8000).lanewise(VectorOperators.LSHL, 16)).reinterpretAsFloats(), w1 = h1.and(0x7FFF).lanewise(VectorOperators.LSHL, 13).reinterpretAsFloats().mul(F16_SCALE).reinterpretAsInts().or(h1.and(0x8000).lanewise(VectorOperators.LSHL, 16)).reinterpretAsFloats();
            float d0 = xd[xb], d1 = xd[xb + blocks], d2 = xd[xb + 2 * blocks], d3 = xd[xb + 3 * blocks];
            // the same operations, in the same order, as q4_0Row: bit-identical per row
            f00 = ((FloatVector) s0.reinterpretAsInts().lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 16).convert(VectorOperators.I2F, 0)).fma(w0.mul(d0), f00);
            f01 = ((FloatVector) s0.reinterpretAsInts().lanewise(VectorOperators.ASHR, 16).convert(VectorOperators.I2F, 0)).fma(w1.mul(d0), f01);
            f10 = ((FloatVector) s1.reinterpretAsInts().lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 16).convert(VectorOperators.I2F, 0)).fma(w0.mul(d1), f10);
            f11 = ((FloatVector) s1.reinterpretAsInts().lanewise(VectorOperators.ASHR, 16).convert(VectorOperators.I2F, 0)).fma(w1.mul(d1), f11);
            f20 = ((FloatVector) s2.reinterpretAsInts().lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 16).convert(VectorOperators.I2F, 0)).fma(w0.mul(d2), f20);
            f21 = ((FloatVector) s2.reinterpretAsInts().lanewise(VectorOperators.ASHR, 16).convert(VectorOperators.I2F, 0)).fma(w1.mul(d2), f21);
            f30 = ((FloatVector) s3.reinterpretAsInts().lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 16).convert(VectorOperators.I2F, 0)).fma(w0.mul(d3), f30);
            f31 = ((FloatVector) s3.reinterpretAsInts().lanewise(VectorOperators.ASHR, 16).convert(VectorOperators.I2F, 0)).fma(w1.mul(d3), f31);
        }
        store(f00, f01, y, yOff + r * yStride, n);
        store(f10, f11, y, yOff + (r + 1) * yStride, n);
        store(f20, f21, y, yOff + (r + 2) * yStride, n);
        store(f30, f31, y, yOff + (r + 3) * yStride, n);
    }

    /** Two x rows at once (fewer registers than four; chosen by measurement, see docs/BENCHMARKS.md, "Int4 x int8 kernel"). */
    private static void q4_0Tile2(MemorySegment w, long panelOff, Activations a, float[] xd, int r, float[] y, int yStride, int yOff, int n) {
        int blocks = a.blocks(), L = F.length(), n32 = blocks * K;
        short[] x = a.q();
        short[] cen = a.centering();
        FloatVector f00 = FloatVector.zero(F), f01 = f00, f10 = f00, f11 = f00;
        for (int b = 0; b < blocks; b++) {
            long off = panelOff + (long) b * Q4_0_BLOCK_BYTES;
            ShortVector s0 = ShortVector.zero(S), s1 = s0;
            int k0 = r * n32 + b * K, k1 = k0 + n32;
            for (int i = 0; i < 8; i++, k0 += 4, k1 += 4) {
                ShortVector v = ShortVector.fromMemorySegment(S, w, off + (long) i * QUAD_BYTES, LE);
                ShortVector c0 = v.and((short) 0xF), c1 = v.lanewise(VectorOperators.LSHR, 4).and((short) 0xF);
                ShortVector c2 = v.lanewise(VectorOperators.LSHR, 8).and((short) 0xF), c3 = v.lanewise(VectorOperators.LSHR, 12);
                s0 = s0.add(c0.mul(x[k0])).add(c1.mul(x[k0 + 1])).add(c2.mul(x[k0 + 2])).add(c3.mul(x[k0 + 3]));
                s1 = s1.add(c0.mul(x[k1])).add(c1.mul(x[k1 + 1])).add(c2.mul(x[k1 + 2])).add(c3.mul(x[k1 + 3]));
            }
            int xb = r * blocks + b;
            s0 = s0.sub(cen[xb]);
            s1 = s1.sub(cen[xb + blocks]);
            IntVector h0 = (IntVector) ShortVector.fromMemorySegment(HALF, w, off + BLOCK_CODE_BYTES, LE).convertShape(VectorOperators.S2I, I, 0);
            IntVector h1 = (IntVector) ShortVector.fromMemorySegment(HALF, w, off + BLOCK_CODE_BYTES + 2L * L, LE).convertShape(VectorOperators.S2I, I, 0);
            FloatVector w0 = h0.and(0x7FFF).lanewise(VectorOperators.LSHL, 13).reinterpretAsFloats().mul(F16_SCALE).reinterpretAsInts().or(h0.and(0x8000).lanewise(VectorOperators.LSHL, 16)).reinterpretAsFloats(), w1 = h1.and(0x7FFF).lanewise(VectorOperators.LSHL, 13).reinterpretAsFloats().mul(F16_SCALE).reinterpretAsInts().or(h1.and(0x8000).lanewise(VectorOperators.LSHL, 16)).reinterpretAsFloats();
            float d0 = xd[xb], d1 = xd[xb + blocks];
            // the same operations, in the same order, as q4_0Row: bit-identical per row
            f00 = ((FloatVector) s0.reinterpretAsInts().lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 16).convert(VectorOperators.I2F, 0)).fma(w0.mul(d0), f00);
            f01 = ((FloatVector) s0.reinterpretAsInts().lanewise(VectorOperators.ASHR, 16).convert(VectorOperators.I2F, 0)).fma(w1.mul(d0), f01);
            f10 = ((FloatVector) s1.reinterpretAsInts().lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 16).convert(VectorOperators.I2F, 0)).fma(w0.mul(d1), f10);
            f11 = ((FloatVector) s1.reinterpretAsInts().lanewise(VectorOperators.ASHR, 16).convert(VectorOperators.I2F, 0)).fma(w1.mul(d1), f11);
        }
        store(f00, f01, y, yOff + r * yStride, n);
        store(f10, f11, y, yOff + (r + 1) * yStride, n);
    }

    /** The first n of the 2L lanes f0, f1 into y[at..]. */
    private static void store(FloatVector f0, FloatVector f1, float[] y, int at, int n) {
        int L = F.length();
        if (n == 2 * L) {
            f0.intoArray(y, at);
            f1.intoArray(y, at + L);
            return;
        }
        for (int j = 0; j < n; j++) y[at + j] = j < L ? f0.lane(j) : f1.lane(j - L);
    }

    // ---------------------------------------------------------------- W4A8: int32 per group, zero point and scale per row per group

    /** Bytes of one group's tail in one panel of the W4A8 layout: P float scales, then P int32 (8 - zero point), rows in order. */
    public static final int W4A8_TAIL_BYTES = 4 * P + 4 * P;

    /** Bytes of one group of one panel in the W4A8 layout: blocksPerGroup blocks of codes, then the tail. */
    public static long w4a8GroupBytes(int blocksPerGroup) {
        return (long) blocksPerGroup * BLOCK_CODE_BYTES + W4A8_TAIL_BYTES;
    }

    /**
     * y[r * yStride + yOff + j] = xs[r] * sum_g ws[j, g] * (sum_{k in g} (q - 8) x + (8 - z[j, g]) * sum_{k in g} x)
     * (the exact int32 of sum q x - z sum x) for rows j < n of the panel at byte panelOff, x rows [r0, r1).
     */
    public static void w4a8(MemorySegment w, long panelOff, Activations a, int blocksPerGroup, float[] xs, int r0, int r1, float[] y, int yStride, int yOff, int n) {
        for (int r = r0; r < r1; r++) w4a8Row(w, panelOff, a, blocksPerGroup, xs[r], r, y, yStride, yOff, n);
    }

    private static void w4a8Row(MemorySegment w, long panelOff, Activations a, int bpg, float xs, int r, float[] y, int yStride, int yOff, int n) {
        int blocks = a.blocks(), groups = blocks / bpg, L = F.length();
        long gBytes = w4a8GroupBytes(bpg);
        short[] x = a.q();
        FloatVector f0 = FloatVector.zero(F), f1 = f0;
        int xb = r * blocks;
        for (int g = 0; g < groups; g++) {
            long off = panelOff + g * gBytes;
            IntVector i0 = IntVector.zero(I), i1 = i0;
            int gsum = 0;
            for (int b = 0; b < bpg; b++) {
                int blk = xb + g * bpg + b;
                long bo = off + (long) b * BLOCK_CODE_BYTES;
                ShortVector s0 = ShortVector.zero(S), s1 = s0;
                for (int i = 0, k = blk * K; i < 8; i++, k += 4) {   // as in q4_0Row
                    ShortVector v = ShortVector.fromMemorySegment(S, w, bo + (long) i * QUAD_BYTES, LE);
                    s0 = s0.add(v.and((short) 0xF).mul(x[k])).add(v.lanewise(VectorOperators.LSHR, 4).and((short) 0xF).mul(x[k + 1]));
                    s1 = s1.add(v.lanewise(VectorOperators.LSHR, 8).and((short) 0xF).mul(x[k + 2])).add(v.lanewise(VectorOperators.LSHR, 12).mul(x[k + 3]));
                }
                ShortVector s = s0.add(s1).sub(a.centering()[blk]);
                IntVector si = s.reinterpretAsInts();
                i0 = i0.add(si.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 16));
                i1 = i1.add(si.lanewise(VectorOperators.ASHR, 16));
                gsum += a.blockSums()[blk];
            }
            long tail = off + (long) bpg * BLOCK_CODE_BYTES;
            i0 = i0.add(IntVector.fromMemorySegment(I, w, tail + 4L * P, LE).mul(gsum));
            i1 = i1.add(IntVector.fromMemorySegment(I, w, tail + 4L * P + 4L * L, LE).mul(gsum));
            FloatVector s0 = FloatVector.fromMemorySegment(F, w, tail, LE), s1 = FloatVector.fromMemorySegment(F, w, tail + 4L * L, LE);
            f0 = ((FloatVector) i0.convert(VectorOperators.I2F, 0)).fma(s0, f0);
            f1 = ((FloatVector) i1.convert(VectorOperators.I2F, 0)).fma(s1, f1);
        }
        store(f0.mul(xs), f1.mul(xs), y, yOff + r * yStride, n);
    }
}
