package dev.quantflow.engine.quant;

import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * An integer grid: bits wide, symmetric (zero point 0, [-(2^(b-1)-1), 2^(b-1)-1]) or asymmetric
 * (zero point in the grid, [0, 2^b-1]). A value v maps to q = clamp(round(v/scale) + zero) and back
 * to (q - zero) * scale; inside the range the error is at most scale/2.
 */
public record IntRange(int bits, boolean symmetric) {
    public static final IntRange INT8_SYM = new IntRange(8, true);
    public static final IntRange INT8_ASYM = new IntRange(8, false);
    public static final IntRange INT4_SYM = new IntRange(4, true);
    public static final IntRange INT4_ASYM = new IntRange(4, false);

    public IntRange {
        if (bits != 8 && bits != 4) throw new IllegalArgumentException("bits must be 8 or 4, got " + bits);
    }

    /** Smallest code: -127/-7 symmetric, 0 asymmetric int4, -128 asymmetric int8 (so it fits a Java byte). */
    public int qmin() {
        if (symmetric) return -((1 << (bits - 1)) - 1);
        return bits == 8 ? -128 : 0;
    }

    public int qmax() {
        if (symmetric) return (1 << (bits - 1)) - 1;
        return bits == 8 ? 127 : 15;
    }

    /** Scale and zero point covering [lo, hi] (widened to include 0 so that 0 is exact). */
    public QParams params(float lo, float hi) {
        lo = Math.min(lo, 0f);
        hi = Math.max(hi, 0f);
        if (symmetric) {
            float m = Math.max(-lo, hi);
            return new QParams(m == 0f ? 1f : m / qmax(), 0);
        }
        float scale = (hi - lo) / (qmax() - qmin());
        if (scale == 0f) return new QParams(1f, clampZero(0));
        return new QParams(scale, clampZero(qmin() - Math.round(lo / scale)));
    }

    private int clampZero(int z) {
        return Math.max(qmin(), Math.min(qmax(), z));
    }

    public int quantize(float v, QParams p) {
        long q = (long) Math.round(v / p.scale()) + p.zero();   // long: an infinite weight must not wrap to the other end
        return (int) Math.max(qmin(), Math.min(qmax(), q));
    }

    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Integer> I = VectorSpecies.of(int.class, F.vectorShape());
    private static final VectorSpecies<Byte> B = VectorSpecies.of(byte.class, VectorShape.forBitSize(Math.max(64, F.length() * 8)));
    private static final boolean LANES = B.length() == F.length();

    /**
     * q[qo + i - from] = quantize(v[i], p) for i in [from, to), in lanes with exactly the scalar's
     * result: Math.round(t) is trunc(t) plus one where the exact t - trunc(t) is >= 0.5, minus one
     * where it is < -0.5 (t - trunc(t) has no rounding error: Sterbenz), NaN gives 0 as (int) does.
     * t is clamped to +-2^24 first (beyond it every code clamps to qmin/qmax).
     */
    public void quantize(float[] v, int from, int to, QParams p, byte[] q, int qo) {
        int i = from;
        if (LANES) {
            FloatVector scale = FloatVector.broadcast(F, p.scale());
            IntVector zero = IntVector.broadcast(I, p.zero()), lo = IntVector.broadcast(I, qmin()), hi = IntVector.broadcast(I, qmax());
            for (; i <= to - F.length(); i += F.length()) {
                FloatVector t = FloatVector.fromArray(F, v, i).div(scale).max(-0x1p24f).min(0x1p24f);
                IntVector n = (IntVector) t.convert(VectorOperators.F2I, 0);
                FloatVector frac = t.sub((FloatVector) n.convert(VectorOperators.I2F, 0));
                VectorMask<Integer> up = frac.compare(VectorOperators.GE, 0.5f).cast(I), down = frac.compare(VectorOperators.LT, -0.5f).cast(I);
                n = n.add(1, up).sub(1, down).add(zero).max(lo).min(hi);
                ((ByteVector) n.convertShape(VectorOperators.I2B, B, 0)).intoArray(q, qo + i - from);
            }
        }
        for (; i < to; i++) q[qo + i - from] = (byte) quantize(v[i], p);
    }

    public float dequantize(int q, QParams p) {
        return (q - p.zero()) * p.scale();
    }

    /** A grid step and the code that stands for 0. */
    public record QParams(float scale, int zero) {}
}
