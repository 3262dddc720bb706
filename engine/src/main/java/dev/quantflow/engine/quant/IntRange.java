package dev.quantflow.engine.quant;

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
        int q = Math.round(v / p.scale()) + p.zero();
        return Math.max(qmin(), Math.min(qmax(), q));
    }

    public float dequantize(int q, QParams p) {
        return (q - p.zero()) * p.scale();
    }

    /** A grid step and the code that stands for 0. */
    public record QParams(float scale, int zero) {}
}
