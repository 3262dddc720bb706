package dev.quantflow.engine.compute;

import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * Int8 dot products on the Vector API. The CPU has VNNI but C2 does not emit it from the Vector
 * API (nor, measured on JDK 25, from a scalar loop: see dotI8), so int8 x int8 products are
 * widened to int32 and multiply-added. Int8 weights times fp32 activations
 * widen the bytes to float and FMA; for one activation row the weights are interleaved eight
 * rows at a time (interleave8) so that each activation load serves eight weight rows.
 */
public final class Int8Kernels {
    static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    static final VectorSpecies<Integer> I = VectorSpecies.of(int.class, F.vectorShape());
    /** A 128-bit species (SSE only): no 32-bit byte vector exists, so the loops below run scalar. */
    private static final boolean NARROW = F.length() < 8;
    static final VectorSpecies<Byte> B = VectorSpecies.of(byte.class, VectorShape.forBitSize(Math.max(64, F.length() * 8)));

    private Int8Kernels() {}

    /**
     * sum_i a[ao+i] * b[bo+i] over int8 codes, exact in int32 (n < 2^17): both sides widened to
     * int32 (B2I), multiplied and added. Why not int16 products (B2S, ShortVector.mul, two products
     * added in int16, S2I): 1.1-1.3x per CPU-second in a standalone prototype on Zen 4, but
     * w8a8-dynamic decode end to end was 0.74-0.97x in three of four alternated rounds, so int32
     * stays. The scalar loop {@code s += a[i]*b[i] + a[i+1]*b[i+1]} over short[] was not
     * vectorized by C2 on JDK 25 (scalar speed): docs/BENCHMARKS.md "Decode kernels, second round".
     */
    public static int dotI8(byte[] a, int ao, byte[] b, int bo, int n) {
        IntVector s0 = IntVector.zero(I), s1 = s0;
        int L = NARROW ? n + 1 : I.length(), i = 0;
        for (; i <= n - 2 * L; i += 2 * L) {
            s0 = s0.add(b2i(a, ao + i).mul(b2i(b, bo + i)));
            s1 = s1.add(b2i(a, ao + i + L).mul(b2i(b, bo + i + L)));
        }
        for (; i <= n - L; i += L) s0 = s0.add(b2i(a, ao + i).mul(b2i(b, bo + i)));
        int sum = s0.add(s1).reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) sum += a[ao + i] * b[bo + i];
        return sum;
    }

    /** sum_i w[wo+i] * x[xo+i] with int8 w widened to float in registers (reads 1 byte per weight). */
    public static float dotI8F32(byte[] w, int wo, float[] x, int xo, int n) {
        FloatVector s0 = FloatVector.zero(F), s1 = s0;
        int L = NARROW ? n + 1 : F.length(), i = 0;
        for (; i <= n - 2 * L; i += 2 * L) {
            s0 = b2f(w, wo + i).fma(FloatVector.fromArray(F, x, xo + i), s0);
            s1 = b2f(w, wo + i + L).fma(FloatVector.fromArray(F, x, xo + i + L), s1);
        }
        for (; i <= n - L; i += L) s0 = b2f(w, wo + i).fma(FloatVector.fromArray(F, x, xo + i), s0);
        float sum = VectorMath.sumLanes(s0.add(s1));   // a fixed tree: the batched path repeats it (Int8Linear.forward)
        for (; i < n; i++) sum += w[wo + i] * x[xo + i];
        return sum;
    }

    private static FloatVector b2f(byte[] w, int off) {
        return (FloatVector) ByteVector.fromArray(B, w, off).convertShape(VectorOperators.B2F, F, 0);
    }

    private static IntVector b2i(byte[] w, int off) {
        return (IntVector) ByteVector.fromArray(B, w, off).convertShape(VectorOperators.B2I, I, 0);
    }

    /**
     * dst[d + r] = sum_i a[ao + i] * w[wo + r * stride + i] for four int8 weight rows, exact in
     * int32: each activation vector is widened once for four weight rows. Widening to int16 with
     * vpmullw and splitting the int16 pair sums by shifts (vpmaddwd by hand) was tried: on Zen 3
     * it ran at a third of the single-row int32 loop's bytes per CPU-second, so int32 stays.
     */
    public static void dotI8x4(byte[] a, int ao, byte[] w, int wo, int stride, int n, int[] dst, int d) {
        IntVector z = IntVector.zero(I), c0 = z, c1 = z, c2 = z, c3 = z;
        int L = NARROW ? n + 1 : I.length(), i = 0, w1 = wo + stride, w2 = w1 + stride, w3 = w2 + stride;
        for (; i <= n - L; i += L) {
            IntVector x = b2i(a, ao + i);
            c0 = c0.add(b2i(w, wo + i).mul(x));
            c1 = c1.add(b2i(w, w1 + i).mul(x));
            c2 = c2.add(b2i(w, w2 + i).mul(x));
            c3 = c3.add(b2i(w, w3 + i).mul(x));
        }
        int s0 = c0.reduceLanes(VectorOperators.ADD), s1 = c1.reduceLanes(VectorOperators.ADD);
        int s2 = c2.reduceLanes(VectorOperators.ADD), s3 = c3.reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) {
            int ai = a[ao + i];
            s0 += ai * w[wo + i];
            s1 += ai * w[w1 + i];
            s2 += ai * w[w2 + i];
            s3 += ai * w[w3 + i];
        }
        dst[d] = s0;
        dst[d + 1] = s1;
        dst[d + 2] = s2;
        dst[d + 3] = s3;
    }

    /** Activation rows per tile of dotI8x4Rows: 4 x 6 chains + 6 x vectors + a weight vector in AVX-512's 32 registers; 4 x 2 with 16 (AVX2). */
    private static final int X4_TILE_ROWS = F.length() >= 16 ? 6 : 2;

    /**
     * Vector steps per fma chain of dotI8x4Rows before its lanes are summed as ints: 1024 products
     * of |w| <= 128 and |x| <= 127 stay below 2^24, so every partial sum of a chain is an exact
     * integer in float.
     */
    private static final int EXACT_STEPS = 1024;

    /** The chain scratch dotI8x4Rows takes (one per thread). */
    public static float[] rowsScratch() {
        return new float[4 * X4_TILE_ROWS * F.length()];
    }

    /**
     * dst[d + r * dStride + j] = sum_{i < n} w[wo + j * stride + i] * x[xo + r * xStride + i] for
     * the four int8 weight rows j and r < rows, where x holds int8 activation codes as floats: each
     * weight vector is widened to float once for a tile of up to X4_TILE_ROWS activation rows and
     * FMA'd (the rows cut into tiles of near-equal size, 16: 5, 5, 6). Why floats: the int32
     * multiply-add of dotI8x4 costs a widening of both sides and a vpmulld per product; an FMA
     * needs neither. Exact: a chain of at most EXACT_STEPS steps is an integer below 2^24, its
     * lanes are converted to int and summed as ints, so dst is dotI8's integer bit for bit, for any
     * rows (batch invariance). chains: rowsScratch().
     */
    public static void dotI8x4Rows(byte[] w, int wo, int stride, float[] x, int xo, int xStride, int rows, int n, int[] dst, int d, int dStride, float[] chains) {
        for (int r = 0; r < rows; r++) java.util.Arrays.fill(dst, d + r * dStride, d + r * dStride + 4, 0);
        int K = F.length(), full = NARROW ? 0 : n / K * K, tiles = (rows + X4_TILE_ROWS - 1) / X4_TILE_ROWS;
        for (int s = 0; s < full; s += EXACT_STEPS * K) {
            int e = Math.min(full, s + EXACT_STEPS * K);
            for (int t = 0, r = 0; t < tiles; t++) {
                int k = (rows - r) / (tiles - t), xr = xo + r * xStride;
                switch (k) {
                    case 1 -> rows4x1(w, wo, stride, x, xr, xStride, s, e, chains);
                    case 2 -> rows4x2(w, wo, stride, x, xr, xStride, s, e, chains);
                    case 3 -> rows4x3(w, wo, stride, x, xr, xStride, s, e, chains);
                    case 4 -> rows4x4(w, wo, stride, x, xr, xStride, s, e, chains);
                    case 5 -> rows4x5(w, wo, stride, x, xr, xStride, s, e, chains);
                    default -> rows4x6(w, wo, stride, x, xr, xStride, s, e, chains);
                }
                for (int c = 0; c < 4 * k; c++)   // a loop, not written out per chain: it keeps the tiles under C2's inlining node cutoff
                    dst[d + (r + c / 4) * dStride + c % 4] += ((IntVector) FloatVector.fromArray(F, chains, c * K).convert(VectorOperators.F2I, 0)).reduceLanes(VectorOperators.ADD);
                r += k;
            }
        }
        for (int r = 0; r < rows; r++)
            for (int i = full; i < n; i++) {
                int xi = (int) x[xo + r * xStride + i], at = d + r * dStride;
                dst[at] += xi * w[wo + i];
                dst[at + 1] += xi * w[wo + stride + i];
                dst[at + 2] += xi * w[wo + 2 * stride + i];
                dst[at + 3] += xi * w[wo + 3 * stride + i];
            }
    }

    /** dotI8x4Rows' tile: the four weight rows times 1 activation row, 4 fma chains over the vector steps [from, to). */
    private static void rows4x1(byte[] w, int wo, int stride, float[] x, int xo, int xStride, int from, int to, float[] chains) {
        int K = F.length(), w1 = wo + stride, w2 = w1 + stride, w3 = w2 + stride;
        FloatVector a00 = FloatVector.zero(F), a01 = a00, a02 = a00, a03 = a00;
        int x0 = xo;
        for (int i = from; i < to; i += K) {
            FloatVector v0 = FloatVector.fromArray(F, x, x0 + i);
            FloatVector u0 = b2f(w, wo + i);
            a00 = u0.fma(v0, a00);
            FloatVector u1 = b2f(w, w1 + i);
            a01 = u1.fma(v0, a01);
            FloatVector u2 = b2f(w, w2 + i);
            a02 = u2.fma(v0, a02);
            FloatVector u3 = b2f(w, w3 + i);
            a03 = u3.fma(v0, a03);
        }
        a00.intoArray(chains, 0 * K);
        a01.intoArray(chains, 1 * K);
        a02.intoArray(chains, 2 * K);
        a03.intoArray(chains, 3 * K);
    }

    /** dotI8x4Rows' tile: the four weight rows times 2 activation rows, 8 fma chains over the vector steps [from, to). */
    private static void rows4x2(byte[] w, int wo, int stride, float[] x, int xo, int xStride, int from, int to, float[] chains) {
        int K = F.length(), w1 = wo + stride, w2 = w1 + stride, w3 = w2 + stride;
        FloatVector a00 = FloatVector.zero(F), a01 = a00, a02 = a00, a03 = a00, a10 = a00, a11 = a00, a12 = a00, a13 = a00;
        int x0 = xo, x1 = x0 + xStride;
        for (int i = from; i < to; i += K) {
            FloatVector v0 = FloatVector.fromArray(F, x, x0 + i);
            FloatVector v1 = FloatVector.fromArray(F, x, x1 + i);
            FloatVector u0 = b2f(w, wo + i);
            a00 = u0.fma(v0, a00);
            a10 = u0.fma(v1, a10);
            FloatVector u1 = b2f(w, w1 + i);
            a01 = u1.fma(v0, a01);
            a11 = u1.fma(v1, a11);
            FloatVector u2 = b2f(w, w2 + i);
            a02 = u2.fma(v0, a02);
            a12 = u2.fma(v1, a12);
            FloatVector u3 = b2f(w, w3 + i);
            a03 = u3.fma(v0, a03);
            a13 = u3.fma(v1, a13);
        }
        a00.intoArray(chains, 0 * K);
        a01.intoArray(chains, 1 * K);
        a02.intoArray(chains, 2 * K);
        a03.intoArray(chains, 3 * K);
        a10.intoArray(chains, 4 * K);
        a11.intoArray(chains, 5 * K);
        a12.intoArray(chains, 6 * K);
        a13.intoArray(chains, 7 * K);
    }

    /** dotI8x4Rows' tile: the four weight rows times 3 activation rows, 12 fma chains over the vector steps [from, to). */
    private static void rows4x3(byte[] w, int wo, int stride, float[] x, int xo, int xStride, int from, int to, float[] chains) {
        int K = F.length(), w1 = wo + stride, w2 = w1 + stride, w3 = w2 + stride;
        FloatVector a00 = FloatVector.zero(F), a01 = a00, a02 = a00, a03 = a00, a10 = a00, a11 = a00, a12 = a00, a13 = a00, a20 = a00, a21 = a00, a22 = a00, a23 = a00;
        int x0 = xo, x1 = x0 + xStride, x2 = x1 + xStride;
        for (int i = from; i < to; i += K) {
            FloatVector v0 = FloatVector.fromArray(F, x, x0 + i);
            FloatVector v1 = FloatVector.fromArray(F, x, x1 + i);
            FloatVector v2 = FloatVector.fromArray(F, x, x2 + i);
            FloatVector u0 = b2f(w, wo + i);
            a00 = u0.fma(v0, a00);
            a10 = u0.fma(v1, a10);
            a20 = u0.fma(v2, a20);
            FloatVector u1 = b2f(w, w1 + i);
            a01 = u1.fma(v0, a01);
            a11 = u1.fma(v1, a11);
            a21 = u1.fma(v2, a21);
            FloatVector u2 = b2f(w, w2 + i);
            a02 = u2.fma(v0, a02);
            a12 = u2.fma(v1, a12);
            a22 = u2.fma(v2, a22);
            FloatVector u3 = b2f(w, w3 + i);
            a03 = u3.fma(v0, a03);
            a13 = u3.fma(v1, a13);
            a23 = u3.fma(v2, a23);
        }
        a00.intoArray(chains, 0 * K);
        a01.intoArray(chains, 1 * K);
        a02.intoArray(chains, 2 * K);
        a03.intoArray(chains, 3 * K);
        a10.intoArray(chains, 4 * K);
        a11.intoArray(chains, 5 * K);
        a12.intoArray(chains, 6 * K);
        a13.intoArray(chains, 7 * K);
        a20.intoArray(chains, 8 * K);
        a21.intoArray(chains, 9 * K);
        a22.intoArray(chains, 10 * K);
        a23.intoArray(chains, 11 * K);
    }

    /** dotI8x4Rows' tile: the four weight rows times 4 activation rows, 16 fma chains over the vector steps [from, to). */
    private static void rows4x4(byte[] w, int wo, int stride, float[] x, int xo, int xStride, int from, int to, float[] chains) {
        int K = F.length(), w1 = wo + stride, w2 = w1 + stride, w3 = w2 + stride;
        FloatVector a00 = FloatVector.zero(F), a01 = a00, a02 = a00, a03 = a00, a10 = a00, a11 = a00, a12 = a00, a13 = a00, a20 = a00, a21 = a00, a22 = a00, a23 = a00, a30 = a00, a31 = a00, a32 = a00, a33 = a00;
        int x0 = xo, x1 = x0 + xStride, x2 = x1 + xStride, x3 = x2 + xStride;
        for (int i = from; i < to; i += K) {
            FloatVector v0 = FloatVector.fromArray(F, x, x0 + i);
            FloatVector v1 = FloatVector.fromArray(F, x, x1 + i);
            FloatVector v2 = FloatVector.fromArray(F, x, x2 + i);
            FloatVector v3 = FloatVector.fromArray(F, x, x3 + i);
            FloatVector u0 = b2f(w, wo + i);
            a00 = u0.fma(v0, a00);
            a10 = u0.fma(v1, a10);
            a20 = u0.fma(v2, a20);
            a30 = u0.fma(v3, a30);
            FloatVector u1 = b2f(w, w1 + i);
            a01 = u1.fma(v0, a01);
            a11 = u1.fma(v1, a11);
            a21 = u1.fma(v2, a21);
            a31 = u1.fma(v3, a31);
            FloatVector u2 = b2f(w, w2 + i);
            a02 = u2.fma(v0, a02);
            a12 = u2.fma(v1, a12);
            a22 = u2.fma(v2, a22);
            a32 = u2.fma(v3, a32);
            FloatVector u3 = b2f(w, w3 + i);
            a03 = u3.fma(v0, a03);
            a13 = u3.fma(v1, a13);
            a23 = u3.fma(v2, a23);
            a33 = u3.fma(v3, a33);
        }
        a00.intoArray(chains, 0 * K);
        a01.intoArray(chains, 1 * K);
        a02.intoArray(chains, 2 * K);
        a03.intoArray(chains, 3 * K);
        a10.intoArray(chains, 4 * K);
        a11.intoArray(chains, 5 * K);
        a12.intoArray(chains, 6 * K);
        a13.intoArray(chains, 7 * K);
        a20.intoArray(chains, 8 * K);
        a21.intoArray(chains, 9 * K);
        a22.intoArray(chains, 10 * K);
        a23.intoArray(chains, 11 * K);
        a30.intoArray(chains, 12 * K);
        a31.intoArray(chains, 13 * K);
        a32.intoArray(chains, 14 * K);
        a33.intoArray(chains, 15 * K);
    }

    /** dotI8x4Rows' tile: the four weight rows times 5 activation rows, 20 fma chains over the vector steps [from, to). */
    private static void rows4x5(byte[] w, int wo, int stride, float[] x, int xo, int xStride, int from, int to, float[] chains) {
        int K = F.length(), w1 = wo + stride, w2 = w1 + stride, w3 = w2 + stride;
        FloatVector a00 = FloatVector.zero(F), a01 = a00, a02 = a00, a03 = a00, a10 = a00, a11 = a00, a12 = a00, a13 = a00, a20 = a00, a21 = a00, a22 = a00, a23 = a00, a30 = a00, a31 = a00, a32 = a00, a33 = a00, a40 = a00, a41 = a00, a42 = a00, a43 = a00;
        int x0 = xo, x1 = x0 + xStride, x2 = x1 + xStride, x3 = x2 + xStride, x4 = x3 + xStride;
        for (int i = from; i < to; i += K) {
            FloatVector v0 = FloatVector.fromArray(F, x, x0 + i);
            FloatVector v1 = FloatVector.fromArray(F, x, x1 + i);
            FloatVector v2 = FloatVector.fromArray(F, x, x2 + i);
            FloatVector v3 = FloatVector.fromArray(F, x, x3 + i);
            FloatVector v4 = FloatVector.fromArray(F, x, x4 + i);
            FloatVector u0 = b2f(w, wo + i);
            a00 = u0.fma(v0, a00);
            a10 = u0.fma(v1, a10);
            a20 = u0.fma(v2, a20);
            a30 = u0.fma(v3, a30);
            a40 = u0.fma(v4, a40);
            FloatVector u1 = b2f(w, w1 + i);
            a01 = u1.fma(v0, a01);
            a11 = u1.fma(v1, a11);
            a21 = u1.fma(v2, a21);
            a31 = u1.fma(v3, a31);
            a41 = u1.fma(v4, a41);
            FloatVector u2 = b2f(w, w2 + i);
            a02 = u2.fma(v0, a02);
            a12 = u2.fma(v1, a12);
            a22 = u2.fma(v2, a22);
            a32 = u2.fma(v3, a32);
            a42 = u2.fma(v4, a42);
            FloatVector u3 = b2f(w, w3 + i);
            a03 = u3.fma(v0, a03);
            a13 = u3.fma(v1, a13);
            a23 = u3.fma(v2, a23);
            a33 = u3.fma(v3, a33);
            a43 = u3.fma(v4, a43);
        }
        a00.intoArray(chains, 0 * K);
        a01.intoArray(chains, 1 * K);
        a02.intoArray(chains, 2 * K);
        a03.intoArray(chains, 3 * K);
        a10.intoArray(chains, 4 * K);
        a11.intoArray(chains, 5 * K);
        a12.intoArray(chains, 6 * K);
        a13.intoArray(chains, 7 * K);
        a20.intoArray(chains, 8 * K);
        a21.intoArray(chains, 9 * K);
        a22.intoArray(chains, 10 * K);
        a23.intoArray(chains, 11 * K);
        a30.intoArray(chains, 12 * K);
        a31.intoArray(chains, 13 * K);
        a32.intoArray(chains, 14 * K);
        a33.intoArray(chains, 15 * K);
        a40.intoArray(chains, 16 * K);
        a41.intoArray(chains, 17 * K);
        a42.intoArray(chains, 18 * K);
        a43.intoArray(chains, 19 * K);
    }

    /** dotI8x4Rows' tile: the four weight rows times 6 activation rows, 24 fma chains over the vector steps [from, to). */
    private static void rows4x6(byte[] w, int wo, int stride, float[] x, int xo, int xStride, int from, int to, float[] chains) {
        int K = F.length(), w1 = wo + stride, w2 = w1 + stride, w3 = w2 + stride;
        FloatVector a00 = FloatVector.zero(F), a01 = a00, a02 = a00, a03 = a00, a10 = a00, a11 = a00, a12 = a00, a13 = a00, a20 = a00, a21 = a00, a22 = a00, a23 = a00, a30 = a00, a31 = a00, a32 = a00, a33 = a00, a40 = a00, a41 = a00, a42 = a00, a43 = a00, a50 = a00, a51 = a00, a52 = a00, a53 = a00;
        int x0 = xo, x1 = x0 + xStride, x2 = x1 + xStride, x3 = x2 + xStride, x4 = x3 + xStride, x5 = x4 + xStride;
        for (int i = from; i < to; i += K) {
            FloatVector v0 = FloatVector.fromArray(F, x, x0 + i);
            FloatVector v1 = FloatVector.fromArray(F, x, x1 + i);
            FloatVector v2 = FloatVector.fromArray(F, x, x2 + i);
            FloatVector v3 = FloatVector.fromArray(F, x, x3 + i);
            FloatVector v4 = FloatVector.fromArray(F, x, x4 + i);
            FloatVector v5 = FloatVector.fromArray(F, x, x5 + i);
            FloatVector u0 = b2f(w, wo + i);
            a00 = u0.fma(v0, a00);
            a10 = u0.fma(v1, a10);
            a20 = u0.fma(v2, a20);
            a30 = u0.fma(v3, a30);
            a40 = u0.fma(v4, a40);
            a50 = u0.fma(v5, a50);
            FloatVector u1 = b2f(w, w1 + i);
            a01 = u1.fma(v0, a01);
            a11 = u1.fma(v1, a11);
            a21 = u1.fma(v2, a21);
            a31 = u1.fma(v3, a31);
            a41 = u1.fma(v4, a41);
            a51 = u1.fma(v5, a51);
            FloatVector u2 = b2f(w, w2 + i);
            a02 = u2.fma(v0, a02);
            a12 = u2.fma(v1, a12);
            a22 = u2.fma(v2, a22);
            a32 = u2.fma(v3, a32);
            a42 = u2.fma(v4, a42);
            a52 = u2.fma(v5, a52);
            FloatVector u3 = b2f(w, w3 + i);
            a03 = u3.fma(v0, a03);
            a13 = u3.fma(v1, a13);
            a23 = u3.fma(v2, a23);
            a33 = u3.fma(v3, a33);
            a43 = u3.fma(v4, a43);
            a53 = u3.fma(v5, a53);
        }
        a00.intoArray(chains, 0 * K);
        a01.intoArray(chains, 1 * K);
        a02.intoArray(chains, 2 * K);
        a03.intoArray(chains, 3 * K);
        a10.intoArray(chains, 4 * K);
        a11.intoArray(chains, 5 * K);
        a12.intoArray(chains, 6 * K);
        a13.intoArray(chains, 7 * K);
        a20.intoArray(chains, 8 * K);
        a21.intoArray(chains, 9 * K);
        a22.intoArray(chains, 10 * K);
        a23.intoArray(chains, 11 * K);
        a30.intoArray(chains, 12 * K);
        a31.intoArray(chains, 13 * K);
        a32.intoArray(chains, 14 * K);
        a33.intoArray(chains, 15 * K);
        a40.intoArray(chains, 16 * K);
        a41.intoArray(chains, 17 * K);
        a42.intoArray(chains, 18 * K);
        a43.intoArray(chains, 19 * K);
        a50.intoArray(chains, 20 * K);
        a51.intoArray(chains, 21 * K);
        a52.intoArray(chains, 22 * K);
        a53.intoArray(chains, 23 * K);
    }


    /** Rows per interleaved group (interleave8). */
    public static final int ROWS = 8;

    /** The bytes per row and block of the interleaved layout: one float vector's lanes. */
    public static int block() {
        return F.length();
    }

    /**
     * Columns per chunk of interleave8's layout (a multiple of every species' block()): the
     * activations of one chunk (8 KiB of fp32) stay in L1 while all groups of the chunk stream past.
     */
    public static final int CHUNK = 2048;

    /** Columns of chunk c of an in-column matrix: min(CHUNK, in - c * CHUNK). */
    public static int chunkColumns(int c, int in) {
        return Math.min(CHUNK, in - c * CHUNK);
    }

    /** Chunks of an in-column matrix. */
    public static int chunks(int in) {
        return (in + CHUNK - 1) / CHUNK;
    }

    /**
     * Row-major int8 codes (out, in) laid out for dotI8F32x8, same size: the columns cut into
     * chunks of CHUNK, chunk c (n columns) stored from out * c * CHUNK as its own (out, n) matrix;
     * inside a chunk rows in groups of eight, column block b (block() columns) of row j at
     * group + (b * 8 + j) * block(), the n % block() tail columns of row j after all blocks at
     * group + full + j * tail, the out % 8 last rows row-major. Why: one activation load serves
     * eight weight rows in one contiguous stream (1.5-1.7x the row-at-a-time loop, which loaded x
     * once per weight vector); the chunks keep a long row's x in L1 (2048x5632: 1.13-1.15x per
     * CPU-second over unchunked, docs/BENCHMARKS.md "Decode, third round").
     */
    public static byte[] interleave8(byte[] q, int out, int in) {
        byte[] r = new byte[q.length];
        copyInterleaved(q, r, out, in, true);
        return r;
    }

    /**
     * interleave8 in place, for codes that nobody else holds (a model quantized or loaded just now):
     * a copy made a second array of every matrix (a 1.1B model's ~0.9 GB of garbage at load, which
     * ParallelGC's young generation grew around; a transient copy of just the multi-chunk matrices
     * still cost ~150 MB of peak RSS). Two passes: each group of eight rows is interleaved within
     * its own bytes (a per-thread scratch of 8 rows), which leaves chunk c of every group (or
     * leftover row) contiguous; then those pieces move from row-major to chunk-major order, a
     * permutation of equal sub-blocks (gcd of the chunk widths) applied by following its cycles.
     */
    public static void interleave8InPlace(byte[] q, int out, int in) {
        if (chunks(in) > 1 && gcd(CHUNK, chunkColumns(chunks(in) - 1, in)) < MIN_SUB_BLOCK) {
            System.arraycopy(interleave8(q, out, in), 0, q, 0, q.length);   // odd widths: the permutation's table would outweigh a copy
            return;
        }
        int groups = out / ROWS;
        Parallel.range(groups, (long) ROWS * in, (first, last) -> {
            byte[] group = new byte[ROWS * in];
            for (int g = first; g < last; g++) {
                System.arraycopy(q, g * ROWS * in, group, 0, ROWS * in);
                copyGroupChunks(group, q, g * ROWS * in, in);
            }
        });
        if (chunks(in) > 1) movePiecesChunkMajor(q, out, in);
    }

    /** One group of eight row-major rows (q) into r[rBase..] as consecutive chunks, each in interleave8's in-chunk order. */
    private static void copyGroupChunks(byte[] q, byte[] r, int rBase, int in) {
        for (int c = 0; c < chunks(in); c++) {
            int c0 = c * CHUNK, n = chunkColumns(c, in), K = block(), full = n / K * K, base = rBase + ROWS * c0;
            for (int j = 0; j < ROWS; j++) {
                int row = j * in + c0;
                for (int b = 0; b < full; b += K) System.arraycopy(q, row + b, r, base + (b / K * ROWS + j) * K, K);
                System.arraycopy(q, row + full, r, base + ROWS * full + j * (n - full), n - full);
            }
        }
    }

    /**
     * Piece (unit u, chunk c), a unit being a group of eight rows or one leftover row, lies at
     * start(u) * in + rows(u) * c0 after the first pass and at out * c0 + start(u) * n in
     * interleave8's layout; its bytes keep their order, so the move is a permutation of sub-blocks.
     */
    private static void movePiecesChunkMajor(byte[] q, int out, int in) {
        int groups = out / ROWS, units = groups + out % ROWS, last = chunks(in) - 1;
        int s = gcd(CHUNK, chunkColumns(last, in));   // every piece is a whole number of s-byte sub-blocks
        int[] to = new int[q.length / s];
        for (int u = 0; u < units; u++) {
            int start = u < groups ? u * ROWS : u - groups + groups * ROWS, rows = u < groups ? ROWS : 1;
            for (int c = 0; c <= last; c++) {
                int c0 = c * CHUNK, n = chunkColumns(c, in), from = (start * in + rows * c0) / s, dest = (out * c0 + start * n) / s;
                for (int k = 0; k < rows * n / s; k++) to[from + k] = dest + k;
            }
        }
        byte[] carry = new byte[s], held = new byte[s];
        for (int i = 0; i < to.length; i++) {
            if (to[i] < 0 || to[i] == i) continue;
            System.arraycopy(q, i * s, carry, 0, s);
            int j = to[i];
            to[i] = -1;
            while (j != i) {   // put carry at j, pick up what was there, follow it
                System.arraycopy(q, j * s, held, 0, s);
                System.arraycopy(carry, 0, q, j * s, s);
                byte[] t = carry; carry = held; held = t;
                int next = to[j];
                to[j] = -1;
                j = next;
            }
            System.arraycopy(carry, 0, q, i * s, s);
        }
    }

    private static final int MIN_SUB_BLOCK = 64;

    private static int gcd(int a, int b) {
        return b == 0 ? a : gcd(b, a % b);
    }

    /** interleave8's inverse: the row-major codes. */
    public static byte[] deinterleave8(byte[] w, int out, int in) {
        byte[] q = new byte[w.length];
        copyInterleaved(q, w, out, in, false);
        return q;
    }

    /** Copies between the row-major q and the interleaved r, one block-row at a time, groups in parallel. */
    private static void copyInterleaved(byte[] q, byte[] r, int out, int in, boolean toInterleaved) {
        int groups = out / ROWS;
        Parallel.range(groups + 1, (long) ROWS * in, (first, last) -> {
            for (int g = first; g < last; g++) {
                int rows = g == groups ? out - groups * ROWS : ROWS;   // leftover rows: row-major in each chunk
                for (int c = 0; c < chunks(in); c++) {
                    int c0 = c * CHUNK, n = chunkColumns(c, in);
                    for (int j = 0; j < rows; j++) {
                        int o = g * ROWS + j, row = o * in + c0;
                        if (g == groups) {
                            int at = out * c0 + o * n;
                            if (toInterleaved) System.arraycopy(q, row, r, at, n); else System.arraycopy(r, at, q, row, n);
                            continue;
                        }
                        int K = block(), full = n / K * K, base = out * c0 + g * ROWS * n;
                        for (int b = 0; b < full; b += K) {
                            int at = base + (b / K * ROWS + j) * K;
                            if (toInterleaved) System.arraycopy(q, row + b, r, at, K); else System.arraycopy(r, at, q, row + b, K);
                        }
                        int at = base + ROWS * full + j * (n - full);
                        if (toInterleaved) System.arraycopy(q, row + full, r, at, n - full); else System.arraycopy(r, at, q, row + full, n - full);
                    }
                }
            }
        });
    }

    /** Where code (o, c) of an (out, in) matrix lies in interleave8's layout. */
    public static int interleavedIndex(int o, int c, int out, int in) {
        int c0 = c / CHUNK * CHUNK, n = Math.min(CHUNK, in - c0), K = block(), full = n / K * K, col = c - c0;
        if (o >= out / ROWS * ROWS) return out * c0 + o * n + col;
        int group = out * c0 + o / ROWS * ROWS * n, j = o % ROWS;
        return col < full ? group + (col / K * ROWS + j) * K + col % K : group + ROWS * full + j * (n - full) + (col - full);
    }

    /**
     * dst[d + j] += columns [from, to) of weight row j times x[xo + from..xo + to) for the eight
     * rows of the interleave8 group at w[go..] (from and to multiples of block(), to at most
     * in / block() * block()): each x vector is loaded once for eight weight rows, eight FMA
     * chains. A caller may cut the columns into chunks so that its slice of x stays in L1 while
     * many groups pass (measured for Int8Linear: no better, see its decode).
     * <p>lanes: scratch of at least 8 * F.length() floats; the eight totals are summed from it
     * (VectorMath.sumLanes(float[], int)) so that none is boxed into an out-of-line sumLanes.
     */
    public static void dotI8F32x8(byte[] w, int go, float[] x, int xo, int from, int to, float[] dst, int d, float[] lanes) {
        int K = F.length();
        if (NARROW) {
            for (int j = 0; j < ROWS; j++) {
                float s = 0f;
                for (int c = from; c < to; c++) s += w[go + (c / K * ROWS + j) * K + c % K] * x[xo + c];
                dst[d + j] += s;
            }
            return;
        }
        FloatVector c0 = FloatVector.zero(F), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0;
        int p = go + from * ROWS;
        for (int i = from; i < to; i += K, p += ROWS * K) {
            FloatVector xv = FloatVector.fromArray(F, x, xo + i);
            c0 = b2f(w, p).fma(xv, c0);
            c1 = b2f(w, p + K).fma(xv, c1);
            c2 = b2f(w, p + 2 * K).fma(xv, c2);
            c3 = b2f(w, p + 3 * K).fma(xv, c3);
            c4 = b2f(w, p + 4 * K).fma(xv, c4);
            c5 = b2f(w, p + 5 * K).fma(xv, c5);
            c6 = b2f(w, p + 6 * K).fma(xv, c6);
            c7 = b2f(w, p + 7 * K).fma(xv, c7);
        }
        c0.intoArray(lanes, 0 * K);
        c1.intoArray(lanes, 1 * K);
        c2.intoArray(lanes, 2 * K);
        c3.intoArray(lanes, 3 * K);
        c4.intoArray(lanes, 4 * K);
        c5.intoArray(lanes, 5 * K);
        c6.intoArray(lanes, 6 * K);
        c7.intoArray(lanes, 7 * K);
        VectorMath.addLaneSums(lanes, 0, 8, dst, d);
    }

    /**
     * Activation rows per tile of dotI8F32x8Rows: 4 x 6 chains + 6 x vectors + a weight vector fill
     * 31 of AVX-512's 32 registers; 4 x 2 (11) on a narrower species (AVX2: 16 registers).
     */
    private static final int TILE_ROWS = F.length() >= 16 ? 6 : 2;

    /**
     * dotI8F32x8 for several activation rows: dst[d + r * dStride + j] += columns [from, to) of
     * group row j times x row r (from x[xo + r * xStride]) for r < rows. Each weight block is
     * widened once for a tile of up to TILE_ROWS activation rows and four weight rows (two passes over
     * the group's chunk, the second from cache); each output is still one fma chain from zero over
     * the blocks in order, reduced by sumLanes, as dotI8F32x8 sums it, so its bits do not depend on
     * rows (batch invariance). Rows are cut into ceil(rows / TILE_ROWS) tiles of near-equal size (16: 5, 5,
     * 6). Measured on QuantKernelAB 2048x5632, one thread (docs/BENCHMARKS.md "Multi-row int8 decode
     * kernel"): per CPU-second 8 x 2 tiles (one pass) and 8 x 3 tiles were as fast at 8 rows and
     * 0.8-0.95x at 3, 4 and 16 rows.
     * lanes: scratch of at least 24 * F.length() floats (a tile's totals, summed from it as
     * dotI8F32x8 does).
     */
    public static void dotI8F32x8Rows(byte[] w, int go, float[] x, int xo, int xStride, int rows, int from, int to, float[] dst, int d, int dStride, float[] lanes) {
        if (NARROW) {
            for (int r = 0; r < rows; r++) dotI8F32x8(w, go, x, xo + r * xStride, from, to, dst, d + r * dStride, lanes);
            return;
        }
        int tiles = (rows + TILE_ROWS - 1) / TILE_ROWS;
        for (int t = 0, r = 0; t < tiles; t++) {
            int k = (rows - r) / (tiles - t), xr = xo + r * xStride, dr = d + r * dStride;
            for (int j0 = 0; j0 < ROWS; j0 += 4)
                switch (k) {
                    case 1 -> tile4x1(w, go, j0, x, xr, xStride, from, to, dst, dr, dStride, lanes);
                    case 2 -> tile4x2(w, go, j0, x, xr, xStride, from, to, dst, dr, dStride, lanes);
                    case 3 -> tile4x3(w, go, j0, x, xr, xStride, from, to, dst, dr, dStride, lanes);
                    case 4 -> tile4x4(w, go, j0, x, xr, xStride, from, to, dst, dr, dStride, lanes);
                    case 5 -> tile4x5(w, go, j0, x, xr, xStride, from, to, dst, dr, dStride, lanes);
                    default -> tile4x6(w, go, j0, x, xr, xStride, from, to, dst, dr, dStride, lanes);
                }
            r += k;
        }
    }

    /** dotI8F32x8Rows' tile (C2 keeps its chains, the x vectors and a weight vector in registers): weight rows [j0, j0 + 4) of the group times 1 activation rows, 4 chains. */
    private static void tile4x1(byte[] w, int go, int j0, float[] x, int xo, int xStride, int from, int to, float[] dst, int d, int dStride, float[] lanes) {
        int K = F.length();
        FloatVector a00 = FloatVector.zero(F), a01 = a00, a02 = a00, a03 = a00;
        int x0 = xo;
        int p = go + from * ROWS + j0 * K;
        for (int i = from; i < to; i += K, p += ROWS * K) {
            FloatVector v0 = FloatVector.fromArray(F, x, x0 + i);
            FloatVector w0 = b2f(w, p);
            a00 = w0.fma(v0, a00);
            FloatVector w1 = b2f(w, p + K);
            a01 = w1.fma(v0, a01);
            FloatVector w2 = b2f(w, p + 2 * K);
            a02 = w2.fma(v0, a02);
            FloatVector w3 = b2f(w, p + 3 * K);
            a03 = w3.fma(v0, a03);
        }
        a00.intoArray(lanes, 0 * K);
        a01.intoArray(lanes, 1 * K);
        a02.intoArray(lanes, 2 * K);
        a03.intoArray(lanes, 3 * K);
        VectorMath.addTileSums(lanes, 1, dst, d + j0, dStride);
    }

    /** dotI8F32x8Rows' tile: weight rows [j0, j0 + 4) of the group times 2 activation rows, 8 chains. */
    private static void tile4x2(byte[] w, int go, int j0, float[] x, int xo, int xStride, int from, int to, float[] dst, int d, int dStride, float[] lanes) {
        int K = F.length();
        FloatVector a00 = FloatVector.zero(F), a01 = a00, a02 = a00, a03 = a00, a10 = a00, a11 = a00, a12 = a00, a13 = a00;
        int x0 = xo, x1 = xo + xStride;
        int p = go + from * ROWS + j0 * K;
        for (int i = from; i < to; i += K, p += ROWS * K) {
            FloatVector v0 = FloatVector.fromArray(F, x, x0 + i);
            FloatVector v1 = FloatVector.fromArray(F, x, x1 + i);
            FloatVector w0 = b2f(w, p);
            a00 = w0.fma(v0, a00);
            a10 = w0.fma(v1, a10);
            FloatVector w1 = b2f(w, p + K);
            a01 = w1.fma(v0, a01);
            a11 = w1.fma(v1, a11);
            FloatVector w2 = b2f(w, p + 2 * K);
            a02 = w2.fma(v0, a02);
            a12 = w2.fma(v1, a12);
            FloatVector w3 = b2f(w, p + 3 * K);
            a03 = w3.fma(v0, a03);
            a13 = w3.fma(v1, a13);
        }
        a00.intoArray(lanes, 0 * K);
        a01.intoArray(lanes, 1 * K);
        a02.intoArray(lanes, 2 * K);
        a03.intoArray(lanes, 3 * K);
        a10.intoArray(lanes, 4 * K);
        a11.intoArray(lanes, 5 * K);
        a12.intoArray(lanes, 6 * K);
        a13.intoArray(lanes, 7 * K);
        VectorMath.addTileSums(lanes, 2, dst, d + j0, dStride);
    }

    /** dotI8F32x8Rows' tile: weight rows [j0, j0 + 4) of the group times 3 activation rows, 12 chains. */
    private static void tile4x3(byte[] w, int go, int j0, float[] x, int xo, int xStride, int from, int to, float[] dst, int d, int dStride, float[] lanes) {
        int K = F.length();
        FloatVector a00 = FloatVector.zero(F), a01 = a00, a02 = a00, a03 = a00, a10 = a00, a11 = a00, a12 = a00, a13 = a00, a20 = a00, a21 = a00, a22 = a00, a23 = a00;
        int x0 = xo, x1 = xo + xStride, x2 = xo + 2 * xStride;
        int p = go + from * ROWS + j0 * K;
        for (int i = from; i < to; i += K, p += ROWS * K) {
            FloatVector v0 = FloatVector.fromArray(F, x, x0 + i);
            FloatVector v1 = FloatVector.fromArray(F, x, x1 + i);
            FloatVector v2 = FloatVector.fromArray(F, x, x2 + i);
            FloatVector w0 = b2f(w, p);
            a00 = w0.fma(v0, a00);
            a10 = w0.fma(v1, a10);
            a20 = w0.fma(v2, a20);
            FloatVector w1 = b2f(w, p + K);
            a01 = w1.fma(v0, a01);
            a11 = w1.fma(v1, a11);
            a21 = w1.fma(v2, a21);
            FloatVector w2 = b2f(w, p + 2 * K);
            a02 = w2.fma(v0, a02);
            a12 = w2.fma(v1, a12);
            a22 = w2.fma(v2, a22);
            FloatVector w3 = b2f(w, p + 3 * K);
            a03 = w3.fma(v0, a03);
            a13 = w3.fma(v1, a13);
            a23 = w3.fma(v2, a23);
        }
        a00.intoArray(lanes, 0 * K);
        a01.intoArray(lanes, 1 * K);
        a02.intoArray(lanes, 2 * K);
        a03.intoArray(lanes, 3 * K);
        a10.intoArray(lanes, 4 * K);
        a11.intoArray(lanes, 5 * K);
        a12.intoArray(lanes, 6 * K);
        a13.intoArray(lanes, 7 * K);
        a20.intoArray(lanes, 8 * K);
        a21.intoArray(lanes, 9 * K);
        a22.intoArray(lanes, 10 * K);
        a23.intoArray(lanes, 11 * K);
        VectorMath.addTileSums(lanes, 3, dst, d + j0, dStride);
    }

    /** dotI8F32x8Rows' tile: weight rows [j0, j0 + 4) of the group times 4 activation rows, 16 chains. */
    private static void tile4x4(byte[] w, int go, int j0, float[] x, int xo, int xStride, int from, int to, float[] dst, int d, int dStride, float[] lanes) {
        int K = F.length();
        FloatVector a00 = FloatVector.zero(F), a01 = a00, a02 = a00, a03 = a00, a10 = a00, a11 = a00, a12 = a00, a13 = a00, a20 = a00, a21 = a00, a22 = a00, a23 = a00, a30 = a00, a31 = a00, a32 = a00, a33 = a00;
        int x0 = xo, x1 = xo + xStride, x2 = xo + 2 * xStride, x3 = xo + 3 * xStride;
        int p = go + from * ROWS + j0 * K;
        for (int i = from; i < to; i += K, p += ROWS * K) {
            FloatVector v0 = FloatVector.fromArray(F, x, x0 + i);
            FloatVector v1 = FloatVector.fromArray(F, x, x1 + i);
            FloatVector v2 = FloatVector.fromArray(F, x, x2 + i);
            FloatVector v3 = FloatVector.fromArray(F, x, x3 + i);
            FloatVector w0 = b2f(w, p);
            a00 = w0.fma(v0, a00);
            a10 = w0.fma(v1, a10);
            a20 = w0.fma(v2, a20);
            a30 = w0.fma(v3, a30);
            FloatVector w1 = b2f(w, p + K);
            a01 = w1.fma(v0, a01);
            a11 = w1.fma(v1, a11);
            a21 = w1.fma(v2, a21);
            a31 = w1.fma(v3, a31);
            FloatVector w2 = b2f(w, p + 2 * K);
            a02 = w2.fma(v0, a02);
            a12 = w2.fma(v1, a12);
            a22 = w2.fma(v2, a22);
            a32 = w2.fma(v3, a32);
            FloatVector w3 = b2f(w, p + 3 * K);
            a03 = w3.fma(v0, a03);
            a13 = w3.fma(v1, a13);
            a23 = w3.fma(v2, a23);
            a33 = w3.fma(v3, a33);
        }
        a00.intoArray(lanes, 0 * K);
        a01.intoArray(lanes, 1 * K);
        a02.intoArray(lanes, 2 * K);
        a03.intoArray(lanes, 3 * K);
        a10.intoArray(lanes, 4 * K);
        a11.intoArray(lanes, 5 * K);
        a12.intoArray(lanes, 6 * K);
        a13.intoArray(lanes, 7 * K);
        a20.intoArray(lanes, 8 * K);
        a21.intoArray(lanes, 9 * K);
        a22.intoArray(lanes, 10 * K);
        a23.intoArray(lanes, 11 * K);
        a30.intoArray(lanes, 12 * K);
        a31.intoArray(lanes, 13 * K);
        a32.intoArray(lanes, 14 * K);
        a33.intoArray(lanes, 15 * K);
        VectorMath.addTileSums(lanes, 4, dst, d + j0, dStride);
    }

    /** dotI8F32x8Rows' tile: weight rows [j0, j0 + 4) of the group times 5 activation rows, 20 chains. */
    private static void tile4x5(byte[] w, int go, int j0, float[] x, int xo, int xStride, int from, int to, float[] dst, int d, int dStride, float[] lanes) {
        int K = F.length();
        FloatVector a00 = FloatVector.zero(F), a01 = a00, a02 = a00, a03 = a00, a10 = a00, a11 = a00, a12 = a00, a13 = a00, a20 = a00, a21 = a00, a22 = a00, a23 = a00, a30 = a00, a31 = a00, a32 = a00, a33 = a00, a40 = a00, a41 = a00, a42 = a00, a43 = a00;
        int x0 = xo, x1 = xo + xStride, x2 = xo + 2 * xStride, x3 = xo + 3 * xStride, x4 = xo + 4 * xStride;
        int p = go + from * ROWS + j0 * K;
        for (int i = from; i < to; i += K, p += ROWS * K) {
            FloatVector v0 = FloatVector.fromArray(F, x, x0 + i);
            FloatVector v1 = FloatVector.fromArray(F, x, x1 + i);
            FloatVector v2 = FloatVector.fromArray(F, x, x2 + i);
            FloatVector v3 = FloatVector.fromArray(F, x, x3 + i);
            FloatVector v4 = FloatVector.fromArray(F, x, x4 + i);
            FloatVector w0 = b2f(w, p);
            a00 = w0.fma(v0, a00);
            a10 = w0.fma(v1, a10);
            a20 = w0.fma(v2, a20);
            a30 = w0.fma(v3, a30);
            a40 = w0.fma(v4, a40);
            FloatVector w1 = b2f(w, p + K);
            a01 = w1.fma(v0, a01);
            a11 = w1.fma(v1, a11);
            a21 = w1.fma(v2, a21);
            a31 = w1.fma(v3, a31);
            a41 = w1.fma(v4, a41);
            FloatVector w2 = b2f(w, p + 2 * K);
            a02 = w2.fma(v0, a02);
            a12 = w2.fma(v1, a12);
            a22 = w2.fma(v2, a22);
            a32 = w2.fma(v3, a32);
            a42 = w2.fma(v4, a42);
            FloatVector w3 = b2f(w, p + 3 * K);
            a03 = w3.fma(v0, a03);
            a13 = w3.fma(v1, a13);
            a23 = w3.fma(v2, a23);
            a33 = w3.fma(v3, a33);
            a43 = w3.fma(v4, a43);
        }
        a00.intoArray(lanes, 0 * K);
        a01.intoArray(lanes, 1 * K);
        a02.intoArray(lanes, 2 * K);
        a03.intoArray(lanes, 3 * K);
        a10.intoArray(lanes, 4 * K);
        a11.intoArray(lanes, 5 * K);
        a12.intoArray(lanes, 6 * K);
        a13.intoArray(lanes, 7 * K);
        a20.intoArray(lanes, 8 * K);
        a21.intoArray(lanes, 9 * K);
        a22.intoArray(lanes, 10 * K);
        a23.intoArray(lanes, 11 * K);
        a30.intoArray(lanes, 12 * K);
        a31.intoArray(lanes, 13 * K);
        a32.intoArray(lanes, 14 * K);
        a33.intoArray(lanes, 15 * K);
        a40.intoArray(lanes, 16 * K);
        a41.intoArray(lanes, 17 * K);
        a42.intoArray(lanes, 18 * K);
        a43.intoArray(lanes, 19 * K);
        VectorMath.addTileSums(lanes, 5, dst, d + j0, dStride);
    }

    /** dotI8F32x8Rows' tile: weight rows [j0, j0 + 4) of the group times 6 activation rows, 24 chains. */
    private static void tile4x6(byte[] w, int go, int j0, float[] x, int xo, int xStride, int from, int to, float[] dst, int d, int dStride, float[] lanes) {
        int K = F.length();
        FloatVector a00 = FloatVector.zero(F), a01 = a00, a02 = a00, a03 = a00, a10 = a00, a11 = a00, a12 = a00, a13 = a00, a20 = a00, a21 = a00, a22 = a00, a23 = a00, a30 = a00, a31 = a00, a32 = a00, a33 = a00, a40 = a00, a41 = a00, a42 = a00, a43 = a00, a50 = a00, a51 = a00, a52 = a00, a53 = a00;
        int x0 = xo, x1 = xo + xStride, x2 = xo + 2 * xStride, x3 = xo + 3 * xStride, x4 = xo + 4 * xStride, x5 = xo + 5 * xStride;
        int p = go + from * ROWS + j0 * K;
        for (int i = from; i < to; i += K, p += ROWS * K) {
            FloatVector v0 = FloatVector.fromArray(F, x, x0 + i);
            FloatVector v1 = FloatVector.fromArray(F, x, x1 + i);
            FloatVector v2 = FloatVector.fromArray(F, x, x2 + i);
            FloatVector v3 = FloatVector.fromArray(F, x, x3 + i);
            FloatVector v4 = FloatVector.fromArray(F, x, x4 + i);
            FloatVector v5 = FloatVector.fromArray(F, x, x5 + i);
            FloatVector w0 = b2f(w, p);
            a00 = w0.fma(v0, a00);
            a10 = w0.fma(v1, a10);
            a20 = w0.fma(v2, a20);
            a30 = w0.fma(v3, a30);
            a40 = w0.fma(v4, a40);
            a50 = w0.fma(v5, a50);
            FloatVector w1 = b2f(w, p + K);
            a01 = w1.fma(v0, a01);
            a11 = w1.fma(v1, a11);
            a21 = w1.fma(v2, a21);
            a31 = w1.fma(v3, a31);
            a41 = w1.fma(v4, a41);
            a51 = w1.fma(v5, a51);
            FloatVector w2 = b2f(w, p + 2 * K);
            a02 = w2.fma(v0, a02);
            a12 = w2.fma(v1, a12);
            a22 = w2.fma(v2, a22);
            a32 = w2.fma(v3, a32);
            a42 = w2.fma(v4, a42);
            a52 = w2.fma(v5, a52);
            FloatVector w3 = b2f(w, p + 3 * K);
            a03 = w3.fma(v0, a03);
            a13 = w3.fma(v1, a13);
            a23 = w3.fma(v2, a23);
            a33 = w3.fma(v3, a33);
            a43 = w3.fma(v4, a43);
            a53 = w3.fma(v5, a53);
        }
        a00.intoArray(lanes, 0 * K);
        a01.intoArray(lanes, 1 * K);
        a02.intoArray(lanes, 2 * K);
        a03.intoArray(lanes, 3 * K);
        a10.intoArray(lanes, 4 * K);
        a11.intoArray(lanes, 5 * K);
        a12.intoArray(lanes, 6 * K);
        a13.intoArray(lanes, 7 * K);
        a20.intoArray(lanes, 8 * K);
        a21.intoArray(lanes, 9 * K);
        a22.intoArray(lanes, 10 * K);
        a23.intoArray(lanes, 11 * K);
        a30.intoArray(lanes, 12 * K);
        a31.intoArray(lanes, 13 * K);
        a32.intoArray(lanes, 14 * K);
        a33.intoArray(lanes, 15 * K);
        a40.intoArray(lanes, 16 * K);
        a41.intoArray(lanes, 17 * K);
        a42.intoArray(lanes, 18 * K);
        a43.intoArray(lanes, 19 * K);
        a50.intoArray(lanes, 20 * K);
        a51.intoArray(lanes, 21 * K);
        a52.intoArray(lanes, 22 * K);
        a53.intoArray(lanes, 23 * K);
        VectorMath.addTileSums(lanes, 6, dst, d + j0, dStride);
    }


    /** dst[d + j] += the in % block() tail columns of row j of the interleave8 group at w[go..] times x's. */
    public static void dotI8F32x8Tail(byte[] w, int go, float[] x, int xo, int in, float[] dst, int d) {
        int full = in / block() * block(), tail = in - full;
        for (int j = 0; j < ROWS && tail > 0; j++) {
            int t = go + ROWS * full + j * tail;
            float s = 0f;
            for (int i = 0; i < tail; i++) s += w[t + i] * x[xo + full + i];
            dst[d + j] += s;
        }
    }

    /** dst[dOff+c] = code(o, c) * scale for row o of an interleave8 matrix (a batch's dequantized row). */
    public static void dequantizeInterleaved(byte[] w, int o, int out, int in, float scale, float[] dst, int dOff) {
        for (int ch = 0; ch < chunks(in); ch++) {
            int c0 = ch * CHUNK, n = chunkColumns(ch, in);
            if (o >= out / ROWS * ROWS) {
                dequantize(w, out * c0 + o * n, scale, dst, dOff + c0, n);
                continue;
            }
            int K = F.length(), full = n / K * K, at = interleavedIndex(o, c0, out, in);
            for (int c = 0; c < full; c += K, at += ROWS * K) {   // row o's blocks in a chunk are ROWS * K bytes apart
                if (NARROW) for (int i = 0; i < K; i++) dst[dOff + c0 + c + i] = w[at + i] * scale;
                else b2f(w, at).mul(scale).intoArray(dst, dOff + c0 + c);
            }
            int t = interleavedIndex(o, c0 + full, out, in);
            for (int c = full; c < n; c++) dst[dOff + c0 + c] = w[t + c - full] * scale;
        }
    }

    /** dst[i] = w[wo+i] * scale for n codes (a weight row dequantized for a batch of rows). */
    public static void dequantize(byte[] w, int wo, float scale, float[] dst, int n) {
        dequantize(w, wo, scale, dst, 0, n);
    }

    /** dst[dOff+i] = w[wo+i] * scale for n codes. */
    public static void dequantize(byte[] w, int wo, float scale, float[] dst, int dOff, int n) {
        int L = NARROW ? n + 1 : F.length(), i = 0;
        for (; i <= n - L; i += L) b2f(w, wo + i).mul(scale).intoArray(dst, dOff + i);
        for (; i < n; i++) dst[dOff + i] = w[wo + i] * scale;
    }

    /** max |x[xo+i]| over n values. */
    public static float maxAbs(float[] x, int xo, int n) {
        FloatVector m = FloatVector.zero(F);
        int L = F.length(), i = 0;
        for (; i <= n - L; i += L) m = m.max(FloatVector.fromArray(F, x, xo + i).abs());
        float r = m.reduceLanes(VectorOperators.MAX);
        for (; i < n; i++) r = Math.max(r, Math.abs(x[xo + i]));
        return r;
    }

    /**
     * Symmetric int8 codes of x[xo..xo+n) with the given scale into dst[dOff..]: round(x/scale)
     * clamped to [-127, 127].
     */
    public static void quantizeSym(float[] x, int xo, int n, float scale, byte[] dst, int dOff) {
        float inv = 1f / scale;
        for (int i = 0; i < n; i++) {
            int q = Math.round(x[xo + i] * inv);
            dst[dOff + i] = (byte) Math.max(-127, Math.min(127, q));
        }
    }
}
