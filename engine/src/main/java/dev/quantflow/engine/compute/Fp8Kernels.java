package dev.quantflow.engine.compute;

import dev.quantflow.engine.model.Fp8Format;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * FP8 dot products on the Vector API, weights in Int8Kernels.interleave8's layout (one byte per
 * weight, eight rows per activation load). A code is decoded in two integer ops after the
 * byte's sign-extending widen: a left shift puts exponent and mantissa where fp32 keeps them
 * (mantissa top at bit 22) and the byte's sign at bit 31, and a mask clears the sign's copies
 * between them. The result, read as a float, is the code's value times 2^-(127 - bias): the
 * exponent-bias correction is not a multiply per weight but folded into the activations
 * (x * X_SCALE, once per call) and the output scale (outScale), both powers of two, so every
 * product and sum has exactly the bits of the unscaled ones unless it under- or overflows
 * (|x| >= 2^28 overflows, products below 2^-106 of a code unit go subnormal: neither occurs in a
 * model). An fp8 subnormal becomes an fp32 subnormal with the same exact value. e4m3's NaN code
 * (S.1111.111) would read as 480: it never occurs in quantized weights (encode saturates, and
 * the linears refuse it at construction). Products of two fp8 values are exact in fp32 and
 * accumulate in fp32, as on Hopper.
 */
public final class Fp8Kernels {
    private static final VectorSpecies<Float> F = Int8Kernels.F;
    private static final VectorSpecies<Integer> I = Int8Kernels.I;
    private static final boolean NARROW = F.length() < 8;
    private static final int ROWS = Int8Kernels.ROWS;

    /** The activations' factor (2^100): x * X_SCALE times a decoded code is the product times 2^-(27 - bias). */
    public static final float X_SCALE = 0x1p100f;

    /**
     * mask's vectors: IntVector.and(int) with the mask as an int ran the kernel at 9 GB/s from L2 on
     * Zen 4 (C2 on JDK 25), against a broadcast held in a static final at ~50 GB/s.
     */
    private static final IntVector MASK_E4M3 = IntVector.broadcast(I, mask(Fp8Format.E4M3)), MASK_E5M2 = IntVector.broadcast(I, mask(Fp8Format.E5M2));

    private Fp8Kernels() {}

    private static IntVector maskVector(Fp8Format f) {
        return f == Fp8Format.E4M3 ? MASK_E4M3 : MASK_E5M2;
    }

    private static int shift(Fp8Format f) {
        return 23 - f.manBits;
    }

    /** Bit 31 and the bits below the exponent's top (the sign's copies the shift leaves above it cleared). */
    private static int mask(Fp8Format f) {
        return 0x80000000 | ((1 << (7 + shift(f))) - 1);
    }

    /** What a dot product of decoded codes with x * X_SCALE is multiplied by to be the true dot product. */
    public static float outScale(Fp8Format f) {
        return Math.scalb(1f, 127 - f.bias) / X_SCALE;
    }

    /** Whether the code is e4m3's NaN or e5m2's inf/NaN (a reserved exponent), which the decode does not read as such. */
    public static boolean nonFinite(Fp8Format f, byte code) {
        return !Float.isFinite(f.decode(code));
    }

    private static FloatVector decode(byte[] w, int off, int shift, IntVector mask) {
        IntVector i = (IntVector) ByteVector.fromArray(Int8Kernels.B, w, off).convertShape(VectorOperators.B2I, I, 0);
        return i.lanewise(VectorOperators.LSHL, shift).and(mask).reinterpretAsFloats();
    }

    /** The code as decode reads it (value * 2^-(127 - bias)). */
    public static float decoded(Fp8Format f, byte code) {
        return Float.intBitsToFloat((code << shift(f)) & mask(f));
    }

    /** x[xo..xo+n) * X_SCALE into dst[dOff..] (the activations the kernels take). */
    public static void scaleActivations(float[] x, int xo, int n, float[] dst, int dOff) {
        int L = F.length(), i = 0;
        for (; i <= n - L; i += L) FloatVector.fromArray(F, x, xo + i).mul(X_SCALE).intoArray(dst, dOff + i);
        for (; i < n; i++) dst[dOff + i] = x[xo + i] * X_SCALE;
    }

    /** sum_i decoded(w[wo+i]) * x[xo+i] over row-major codes (two chains, as Int8Kernels.dotI8F32: the out % 8 rows of interleave8). */
    public static float dotF8F32(Fp8Format f, byte[] w, int wo, float[] x, int xo, int n) {
        int sh = shift(f), m = mask(f);
        IntVector mv = maskVector(f);
        FloatVector s0 = FloatVector.zero(F), s1 = s0;
        int L = NARROW ? n + 1 : F.length(), i = 0;
        for (; i <= n - 2 * L; i += 2 * L) {
            s0 = decode(w, wo + i, sh, mv).fma(FloatVector.fromArray(F, x, xo + i), s0);
            s1 = decode(w, wo + i + L, sh, mv).fma(FloatVector.fromArray(F, x, xo + i + L), s1);
        }
        for (; i <= n - L; i += L) s0 = decode(w, wo + i, sh, mv).fma(FloatVector.fromArray(F, x, xo + i), s0);
        float sum = VectorMath.sumLanes(s0.add(s1));
        for (; i < n; i++) sum += Float.intBitsToFloat((w[wo + i] << sh) & m) * x[xo + i];
        return sum;
    }

    /**
     * dotI8F32x8 with the two-op fp8 decode: dst[d + j] += columns [from, to) of row j of the
     * interleave8 group at w[go..] times x[xo + from..xo + to) (from, to multiples of
     * Int8Kernels.block()), eight fma chains, each x vector loaded once for eight rows.
     */
    // lanes: scratch of at least 8 * F.length() floats (Int8Kernels.dotI8F32x8's note)
    public static void dotF8F32x8(Fp8Format f, byte[] w, int go, float[] x, int xo, int from, int to, float[] dst, int d, float[] lanes) {
        int K = F.length(), sh = shift(f), m = mask(f);
        IntVector mv = maskVector(f);
        if (NARROW) {
            for (int j = 0; j < ROWS; j++) {
                float s = 0f;
                for (int c = from; c < to; c++) s += Float.intBitsToFloat((w[go + (c / K * ROWS + j) * K + c % K] << sh) & m) * x[xo + c];
                dst[d + j] += s;
            }
            return;
        }
        FloatVector c0 = FloatVector.zero(F), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0;
        int p = go + from * ROWS;
        for (int i = from; i < to; i += K, p += ROWS * K) {
            FloatVector xv = FloatVector.fromArray(F, x, xo + i);
            // decode() written out: in this eight-call loop C2 hit its inlining node cutoff and left
            // decode out of line, boxing every code vector (0.6 GB/s of garbage in fp8 decode, JFR)
            c0 = ((IntVector) ByteVector.fromArray(Int8Kernels.B, w, p).convertShape(VectorOperators.B2I, I, 0)).lanewise(VectorOperators.LSHL, sh).and(mv).reinterpretAsFloats().fma(xv, c0);
            c1 = ((IntVector) ByteVector.fromArray(Int8Kernels.B, w, p + K).convertShape(VectorOperators.B2I, I, 0)).lanewise(VectorOperators.LSHL, sh).and(mv).reinterpretAsFloats().fma(xv, c1);
            c2 = ((IntVector) ByteVector.fromArray(Int8Kernels.B, w, p + 2 * K).convertShape(VectorOperators.B2I, I, 0)).lanewise(VectorOperators.LSHL, sh).and(mv).reinterpretAsFloats().fma(xv, c2);
            c3 = ((IntVector) ByteVector.fromArray(Int8Kernels.B, w, p + 3 * K).convertShape(VectorOperators.B2I, I, 0)).lanewise(VectorOperators.LSHL, sh).and(mv).reinterpretAsFloats().fma(xv, c3);
            c4 = ((IntVector) ByteVector.fromArray(Int8Kernels.B, w, p + 4 * K).convertShape(VectorOperators.B2I, I, 0)).lanewise(VectorOperators.LSHL, sh).and(mv).reinterpretAsFloats().fma(xv, c4);
            c5 = ((IntVector) ByteVector.fromArray(Int8Kernels.B, w, p + 5 * K).convertShape(VectorOperators.B2I, I, 0)).lanewise(VectorOperators.LSHL, sh).and(mv).reinterpretAsFloats().fma(xv, c5);
            c6 = ((IntVector) ByteVector.fromArray(Int8Kernels.B, w, p + 6 * K).convertShape(VectorOperators.B2I, I, 0)).lanewise(VectorOperators.LSHL, sh).and(mv).reinterpretAsFloats().fma(xv, c6);
            c7 = ((IntVector) ByteVector.fromArray(Int8Kernels.B, w, p + 7 * K).convertShape(VectorOperators.B2I, I, 0)).lanewise(VectorOperators.LSHL, sh).and(mv).reinterpretAsFloats().fma(xv, c7);
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

    /** dst[d + j] += the in % block() tail columns of row j of the interleave8 group at w[go..] times x's (dotI8F32x8Tail). */
    public static void dotF8F32x8Tail(Fp8Format f, byte[] w, int go, float[] x, int xo, int in, float[] dst, int d) {
        int full = in / Int8Kernels.block() * Int8Kernels.block(), tail = in - full, sh = shift(f), m = mask(f);
        for (int j = 0; j < ROWS && tail > 0; j++) {
            int t = go + ROWS * full + j * tail;
            float s = 0f;
            for (int i = 0; i < tail; i++) s += Float.intBitsToFloat((w[t + i] << sh) & m) * x[xo + full + i];
            dst[d + j] += s;
        }
    }

    /** dst[dOff + c] = decoded(code(o, c)) * scale for row o of an interleave8 matrix (Int8Kernels.dequantizeInterleaved). */
    public static void decodeInterleaved(Fp8Format f, byte[] w, int o, int out, int in, float scale, float[] dst, int dOff) {
        int sh = shift(f), m = mask(f), K = F.length();
        for (int ch = 0; ch < Int8Kernels.chunks(in); ch++) {
            int c0 = ch * Int8Kernels.CHUNK, n = Int8Kernels.chunkColumns(ch, in);
            if (o >= out / ROWS * ROWS) {
                int at = out * c0 + o * n;
                for (int c = 0; c < n; c++) dst[dOff + c0 + c] = Float.intBitsToFloat((w[at + c] << sh) & m) * scale;
                continue;
            }
            int full = n / K * K, at = Int8Kernels.interleavedIndex(o, c0, out, in);
            for (int c = 0; c < full; c += K, at += ROWS * K) {
                if (NARROW) for (int i = 0; i < K; i++) dst[dOff + c0 + c + i] = Float.intBitsToFloat((w[at + i] << sh) & m) * scale;
                else decode(w, at, sh, maskVector(f)).mul(scale).intoArray(dst, dOff + c0 + c);
            }
            int t = Int8Kernels.interleavedIndex(o, c0 + full, out, in);
            for (int c = full; c < n; c++) dst[dOff + c0 + c] = Float.intBitsToFloat((w[t + c - full] << sh) & m) * scale;
        }
    }

    /** Codes of x[xo..xo+n) / scale into dst[dOff..] (round to nearest even, saturating). */
    public static void quantize(Fp8Format f, float[] x, int xo, int n, float scale, byte[] dst, int dOff) {
        for (int i = 0; i < n; i++) dst[dOff + i] = f.encode(x[xo + i] / scale);
    }
}
