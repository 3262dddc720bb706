package dev.quantflow.engine.compute;

import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * Int8 dot products on the Vector API. The CPU has VNNI but C2 does not emit it from the Vector
 * API, so bytes are widened to int (B128 -> I512) and multiply-added: int8 x int8 products summed
 * in int32 are exact. Int8 weights times fp32 activations widen the bytes to float and FMA.
 */
public final class Int8Kernels {
    static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    static final VectorSpecies<Integer> I = VectorSpecies.of(int.class, F.vectorShape());
    static final VectorSpecies<Byte> B = VectorSpecies.of(byte.class, VectorShape.forBitSize(F.length() * 8));

    private Int8Kernels() {}

    /** sum_i a[ao+i] * b[bo+i] over int8 codes, exact in int32 (n < 2^17). */
    public static int dotI8(byte[] a, int ao, byte[] b, int bo, int n) {
        IntVector s0 = IntVector.zero(I), s1 = s0;
        int L = I.length(), i = 0;
        for (; i <= n - 2 * L; i += 2 * L) {
            IntVector a0 = (IntVector) ByteVector.fromArray(B, a, ao + i).convertShape(VectorOperators.B2I, I, 0);
            IntVector b0 = (IntVector) ByteVector.fromArray(B, b, bo + i).convertShape(VectorOperators.B2I, I, 0);
            IntVector a1 = (IntVector) ByteVector.fromArray(B, a, ao + i + L).convertShape(VectorOperators.B2I, I, 0);
            IntVector b1 = (IntVector) ByteVector.fromArray(B, b, bo + i + L).convertShape(VectorOperators.B2I, I, 0);
            s0 = s0.add(a0.mul(b0));
            s1 = s1.add(a1.mul(b1));
        }
        for (; i <= n - L; i += L) {
            IntVector a0 = (IntVector) ByteVector.fromArray(B, a, ao + i).convertShape(VectorOperators.B2I, I, 0);
            IntVector b0 = (IntVector) ByteVector.fromArray(B, b, bo + i).convertShape(VectorOperators.B2I, I, 0);
            s0 = s0.add(a0.mul(b0));
        }
        int sum = s0.add(s1).reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) sum += a[ao + i] * b[bo + i];
        return sum;
    }

    /** sum_i w[wo+i] * x[xo+i] with int8 w widened to float in registers (reads 1 byte per weight). */
    public static float dotI8F32(byte[] w, int wo, float[] x, int xo, int n) {
        FloatVector s0 = FloatVector.zero(F), s1 = s0;
        int L = F.length(), i = 0;
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
        int L = I.length(), i = 0, w1 = wo + stride, w2 = w1 + stride, w3 = w2 + stride;
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

    /** dst[i] = w[wo+i] * scale for n codes (a weight row dequantized for a batch of rows). */
    public static void dequantize(byte[] w, int wo, float scale, float[] dst, int n) {
        dequantize(w, wo, scale, dst, 0, n);
    }

    /** dst[dOff+i] = w[wo+i] * scale for n codes. */
    public static void dequantize(byte[] w, int wo, float scale, float[] dst, int dOff, int n) {
        int L = F.length(), i = 0;
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
