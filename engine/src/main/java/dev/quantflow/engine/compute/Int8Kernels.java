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
            FloatVector w0 = (FloatVector) ByteVector.fromArray(B, w, wo + i).convertShape(VectorOperators.B2F, F, 0);
            FloatVector w1 = (FloatVector) ByteVector.fromArray(B, w, wo + i + L).convertShape(VectorOperators.B2F, F, 0);
            s0 = w0.fma(FloatVector.fromArray(F, x, xo + i), s0);
            s1 = w1.fma(FloatVector.fromArray(F, x, xo + i + L), s1);
        }
        for (; i <= n - L; i += L) {
            FloatVector w0 = (FloatVector) ByteVector.fromArray(B, w, wo + i).convertShape(VectorOperators.B2F, F, 0);
            s0 = w0.fma(FloatVector.fromArray(F, x, xo + i), s0);
        }
        float sum = s0.add(s1).reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) sum += w[wo + i] * x[xo + i];
        return sum;
    }

    /** dst[i] = w[wo+i] * scale for n codes (a weight row dequantized for a batch of rows). */
    public static void dequantize(byte[] w, int wo, float scale, float[] dst, int n) {
        int L = F.length(), i = 0;
        for (; i <= n - L; i += L)
            ((FloatVector) ByteVector.fromArray(B, w, wo + i).convertShape(VectorOperators.B2F, F, 0)).mul(scale).intoArray(dst, i);
        for (; i < n; i++) dst[i] = w[wo + i] * scale;
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
