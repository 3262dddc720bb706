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
        float sum = s0.add(s1).reduceLanes(VectorOperators.ADD);
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

    /** Rows per interleaved group (interleave8). */
    public static final int ROWS = 8;

    /** The bytes per row and block of the interleaved layout: one float vector's lanes. */
    public static int block() {
        return F.length();
    }

    /**
     * Row-major int8 codes (out, in) laid out for dotI8F32x8, same size: rows in groups of eight;
     * in a group, column block b (block() columns) of row j is at group + (b * 8 + j) * block(),
     * the in % block() tail columns of row j follow all blocks at group + full + j * tail; the
     * out % 8 last rows stay row-major. Why: one activation load then serves eight weight rows in
     * one contiguous stream (1.5-1.7x the row-at-a-time loop, which loaded x once per weight vector).
     */
    public static byte[] interleave8(byte[] q, int out, int in) {
        byte[] r = new byte[q.length];
        copyInterleaved(q, r, out, in, true);
        return r;
    }

    /** interleave8's inverse: the row-major codes. */
    public static byte[] deinterleave8(byte[] w, int out, int in) {
        byte[] q = new byte[w.length];
        copyInterleaved(q, w, out, in, false);
        return q;
    }

    /** Copies between the row-major q and the interleaved r, one block-row at a time, groups in parallel. */
    private static void copyInterleaved(byte[] q, byte[] r, int out, int in, boolean toInterleaved) {
        int K = block(), full = in / K * K, tail = in - full, groups = out / ROWS;
        Parallel.range(groups + 1, (long) ROWS * in, (first, last) -> {
            for (int g = first; g < last; g++) {
                if (g == groups) {   // leftover rows: row-major in both
                    int at = groups * ROWS * in, n = q.length - at;
                    if (toInterleaved) System.arraycopy(q, at, r, at, n); else System.arraycopy(r, at, q, at, n);
                    continue;
                }
                int base = g * ROWS * in;
                for (int j = 0; j < ROWS; j++) {
                    int row = base + j * in;
                    for (int c = 0; c < full; c += K) {
                        int at = base + (c / K * ROWS + j) * K;
                        if (toInterleaved) System.arraycopy(q, row + c, r, at, K); else System.arraycopy(r, at, q, row + c, K);
                    }
                    int at = base + ROWS * full + j * tail;
                    if (toInterleaved) System.arraycopy(q, row + full, r, at, tail); else System.arraycopy(r, at, q, row + full, tail);
                }
            }
        });
    }

    /** Where code (o, c) of an (out, in) matrix lies in interleave8's layout. */
    public static int interleavedIndex(int o, int c, int out, int in) {
        int K = block(), full = in / K * K;
        if (o >= out / ROWS * ROWS) return o * in + c;
        int group = o / ROWS * ROWS * in, j = o % ROWS;
        return c < full ? group + (c / K * ROWS + j) * K + c % K : group + ROWS * full + j * (in - full) + (c - full);
    }

    /**
     * dst[d + j] += columns [from, to) of weight row j times x[xo + from..xo + to) for the eight
     * rows of the interleave8 group at w[go..] (from and to multiples of block(), to at most
     * in / block() * block()): each x vector is loaded once for eight weight rows, eight FMA
     * chains. A caller may cut the columns into chunks so that its slice of x stays in L1 while
     * many groups pass (measured for Int8Linear: no better, see its decode).
     */
    public static void dotI8F32x8(byte[] w, int go, float[] x, int xo, int from, int to, float[] dst, int d) {
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
        dst[d] += c0.reduceLanes(VectorOperators.ADD);
        dst[d + 1] += c1.reduceLanes(VectorOperators.ADD);
        dst[d + 2] += c2.reduceLanes(VectorOperators.ADD);
        dst[d + 3] += c3.reduceLanes(VectorOperators.ADD);
        dst[d + 4] += c4.reduceLanes(VectorOperators.ADD);
        dst[d + 5] += c5.reduceLanes(VectorOperators.ADD);
        dst[d + 6] += c6.reduceLanes(VectorOperators.ADD);
        dst[d + 7] += c7.reduceLanes(VectorOperators.ADD);
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
        if (o >= out / ROWS * ROWS) {
            dequantize(w, o * in, scale, dst, dOff, in);
            return;
        }
        int K = F.length(), full = in / K * K, at = interleavedIndex(o, 0, out, in);
        for (int c = 0; c < full; c += K, at += ROWS * K) {   // row o's blocks are ROWS * K bytes apart
            if (NARROW) for (int i = 0; i < K; i++) dst[dOff + c + i] = w[at + i] * scale;
            else b2f(w, at).mul(scale).intoArray(dst, dOff + c);
        }
        int t = interleavedIndex(o, full, out, in);
        for (int c = full; c < in; c++) dst[dOff + c] = w[t + c - full] * scale;
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
