package dev.quantflow.engine.compute;

import dev.quantflow.engine.model.Fp8Format;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * FP8 dot products on the Vector API. A code is decoded in registers by bit manipulation: the
 * sign goes to bit 31, exponent+mantissa are shifted so the mantissa's top lands at float bit 22,
 * and one multiply by 2^(127 - bias) rebiases the exponent; this is exact for normals and
 * subnormals alike (an fp8 subnormal becomes a float subnormal that the multiply renormalizes).
 * Non-finite codes are never produced by {@link Fp8Format#encode}; they decode to finite garbage
 * here. Products of two fp8 values are exact in fp32 and accumulate in fp32, as on Hopper.
 */
public final class Fp8Kernels {
    private static final VectorSpecies<Float> F = Int8Kernels.F;

    private Fp8Kernels() {}

    private static int shift(Fp8Format f) {
        return 23 - f.manBits;
    }

    private static float rebias(Fp8Format f) {
        return Math.scalb(1f, 127 - f.bias);
    }

    private static FloatVector decode(byte[] c, int off, int shift, float rebias) {
        IntVector i = (IntVector) ByteVector.fromArray(Int8Kernels.B, c, off).convertShape(VectorOperators.B2I, Int8Kernels.I, 0);
        IntVector bits = i.and(0x80).lanewise(VectorOperators.LSHL, 24).or(i.and(0x7F).lanewise(VectorOperators.LSHL, shift));
        return bits.reinterpretAsFloats().mul(rebias);
    }

    /** sum_i decode(w[wo+i]) * x[xo+i]. */
    public static float dotF8F32(Fp8Format f, byte[] w, int wo, float[] x, int xo, int n) {
        int sh = shift(f);
        float rb = rebias(f);
        FloatVector s0 = FloatVector.zero(F), s1 = s0;
        int L = F.length(), i = 0;
        for (; i <= n - 2 * L; i += 2 * L) {
            s0 = decode(w, wo + i, sh, rb).fma(FloatVector.fromArray(F, x, xo + i), s0);
            s1 = decode(w, wo + i + L, sh, rb).fma(FloatVector.fromArray(F, x, xo + i + L), s1);
        }
        for (; i <= n - L; i += L) s0 = decode(w, wo + i, sh, rb).fma(FloatVector.fromArray(F, x, xo + i), s0);
        float sum = s0.add(s1).reduceLanes(VectorOperators.ADD);
        float[] t = f.table();
        for (; i < n; i++) sum += t[w[wo + i] & 0xFF] * x[xo + i];
        return sum;
    }

    /** sum_i decode(a[ao+i]) * decode(b[bo+i]), both in format f. */
    public static float dotF8(Fp8Format f, byte[] a, int ao, byte[] b, int bo, int n) {
        int sh = shift(f);
        float rb = rebias(f);
        FloatVector s0 = FloatVector.zero(F), s1 = s0;
        int L = F.length(), i = 0;
        for (; i <= n - 2 * L; i += 2 * L) {
            s0 = decode(a, ao + i, sh, rb).fma(decode(b, bo + i, sh, rb), s0);
            s1 = decode(a, ao + i + L, sh, rb).fma(decode(b, bo + i + L, sh, rb), s1);
        }
        for (; i <= n - L; i += L) s0 = decode(a, ao + i, sh, rb).fma(decode(b, bo + i, sh, rb), s0);
        float sum = s0.add(s1).reduceLanes(VectorOperators.ADD);
        float[] t = f.table();
        for (; i < n; i++) sum += t[a[ao + i] & 0xFF] * t[b[bo + i] & 0xFF];
        return sum;
    }

    /** dst[i] = decode(w[wo+i]) * scale (a weight row dequantized once for a batch of rows). */
    public static void dequantize(Fp8Format f, byte[] w, int wo, float scale, float[] dst, int n) {
        int sh = shift(f);
        float rb = rebias(f) * scale;   // scale >= 2^-100 in practice; the product stays normal
        int L = F.length(), i = 0;
        for (; i <= n - L; i += L) {
            IntVector v = (IntVector) ByteVector.fromArray(Int8Kernels.B, w, wo + i).convertShape(VectorOperators.B2I, Int8Kernels.I, 0);
            v.and(0x80).lanewise(VectorOperators.LSHL, 24).or(v.and(0x7F).lanewise(VectorOperators.LSHL, sh)).reinterpretAsFloats().mul(rb).intoArray(dst, i);
        }
        float[] t = f.table();
        for (; i < n; i++) dst[i] = t[w[wo + i] & 0xFF] * scale;
    }

    /** The table alternative of {@link #dotF8F32}: each code looked up (scalar), then a vector dot; kept to measure against. */
    public static float dotF8F32Table(Fp8Format f, byte[] w, int wo, float[] x, int xo, int n, float[] scratch) {
        float[] t = f.table();
        for (int i = 0; i < n; i++) scratch[i] = t[w[wo + i] & 0xFF];
        return VectorMath.dot(scratch, 0, x, xo, n);
    }

    /** Codes of x[xo..xo+n) / scale into dst[dOff..] (round to nearest even, saturating). */
    public static void quantize(Fp8Format f, float[] x, int xo, int n, float scale, byte[] dst, int dOff) {
        for (int i = 0; i < n; i++) dst[dOff + i] = f.encode(x[xo + i] / scale);
    }
}
